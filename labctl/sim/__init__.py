"""Simulated probe station: a physics-backed virtual wafer served over VISA sockets."""

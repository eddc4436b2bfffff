"""Emulated instruments of the simulated station, each a TCP line server on its own port."""

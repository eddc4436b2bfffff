"""Measurement-driven training of binary networks for MTJ crossbar dies (docs/training.md)."""

"""Trained weights back onto the hardware: deployment onto a die's tiles, write-verify
programming, and validation (emulated from the read-back map, and in-situ on the die)."""

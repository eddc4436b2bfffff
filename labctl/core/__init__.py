"""Core layer: domain constants, names and errors that every other layer may import.

Nothing here imports another labctl package; see docs/architecture.md.
"""

"""labctl: instrument control, measurement and training for MTJ crossbar dies on a probe station."""

__version__ = "0.1.0"

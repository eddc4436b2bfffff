"""labctl: instrument control, measurement and training for MTJ crossbar dies on a probe station."""

# First, before anything imports torch: the OpenMP thread policy (see labctl/core/thread_policy.py).
from labctl.core import thread_policy  # noqa: F401

__version__ = "0.1.0"

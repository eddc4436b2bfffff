"""Measurement-driven training of binary networks for MTJ crossbar dies (docs/training.md)."""

# Torch's OpenMP threads sleep while they wait (labctl/core/thread_policy.py); `labctl` itself
# imports this first, named here too since training is what runs torch's thread pool.
from labctl.core import thread_policy  # noqa: F401
from labctl.core.extras import require_extra

# Training runs on torch and stores weights as safetensors: the `train` extra.
require_extra("train", "torch", "safetensors")

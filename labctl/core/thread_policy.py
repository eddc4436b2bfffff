"""labctl's policy for torch's OpenMP threads: a waiting thread sleeps instead of spinning.

Why: by default torch's OpenMP runtime (libgomp) lets a thread that waits at the end of a
parallel region spin for a while before it sleeps. On a machine whose cores are shared (the
2-core build machine, a station PC running the GUI while a sweep runs), a spinning thread takes
the core from the very thread it waits for: under one competing busy process, batched
evaluation ran 14x slower than its quiet time and slower than the per-die loop. With
`OMP_WAIT_POLICY=PASSIVE` a waiting thread sleeps at once; the price is a wake-up per parallel
region, which labctl's kernels amortise over large blocks of work. The number of threads stays
torch's default (one per core available to the process) or what a command's `--threads` sets.

The runtime reads the variable once, when torch is first imported, so this module has to run
before that: `labctl/__init__.py` imports it, hence every labctl entry point (CLI, GUI,
training) applies it first. A value already in the environment is kept: a user who sets
`OMP_WAIT_POLICY` explicitly gets what they asked for.
"""

from __future__ import annotations

import os
import sys

#: The OpenMP wait policy labctl asks for (standard OpenMP; libgomp and Intel's runtime both
#: honour it).
WAIT_POLICY = "PASSIVE"


def apply_thread_policy() -> bool:
    """Set the wait policy unless the environment already has one; True when it can still take
    effect (torch not yet imported in this process)."""
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)
    return "torch" not in sys.modules


_INHERITED = os.environ.get("OMP_WAIT_POLICY")

#: Whether the policy was in place before torch loaded its OpenMP runtime in this process.
APPLIED_BEFORE_TORCH = apply_thread_policy()


def wait_policy_in_effect() -> str | None:
    """The wait policy torch's OpenMP runtime started with in this process; None means the
    runtime's default (spinning), e.g. when torch was imported before labctl."""
    return os.environ.get("OMP_WAIT_POLICY") if APPLIED_BEFORE_TORCH else _INHERITED

"""Design-space studies: a grid of simulator and training settings, each point a wafer trained
and evaluated, run on Dask distributed (docs/study.md)."""

from labctl.core.extras import require_extra

# Dask distributed runs the points, SciPy gives the t-intervals, each point trains (torch).
require_extra("study", "dask", "distributed", "scipy", "rich", "torch")

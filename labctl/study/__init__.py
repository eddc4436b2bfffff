"""Design-space studies: a grid of simulator and training settings, each point a wafer trained
and evaluated, run on Dask distributed (docs/study.md)."""

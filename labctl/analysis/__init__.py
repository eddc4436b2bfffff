"""Analysis of measured dies: per-cell classification (classify), per-die summaries (summary),
report figures (plots) and synthetic reads for tests and benchmarks (synthetic)."""

"""Speed benchmarks of labctl (run with `make bench`; figures reported in docs/benchmarks.md)."""

"""Helpers for tests and benchmarks only: runtime code never imports this package
(an import-linter contract enforces it, docs/architecture.md)."""

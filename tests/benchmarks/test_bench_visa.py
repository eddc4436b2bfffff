"""The VISA benchmark runs end to end and reports every figure (values are not asserted on)."""

from __future__ import annotations

import math

from benchmarks.bench_visa import run


def test_bench_visa_reports_all_figures() -> None:
    figures = run(seed=1, repeats=8)
    assert set(figures) == {
        "query_round_trip_median_us",
        "single_read_per_s",
        "row_batched_read_per_s",
        "tile_batched_read_per_s",
        "tile_read_median_ms",
    }
    assert all(math.isfinite(value) and value > 0 for value in figures.values())

"""--measured: a point's wafer swept through the emulated instruments by the sweep service."""

from __future__ import annotations

import pytest

from labctl.study.grid import parse_grid
from labctl.study.point import run_point
from labctl.study.wafer import MEASURED_SOURCE, TRUTH_SOURCE


@pytest.mark.slow
def test_a_measured_point_trains_on_the_swept_dies_and_says_so():
    raw = {
        "study": {"modes": ["unaware"]},
        "training": {"preset": "quick", "dies": 2},
        "axes": {"wafer_seed": [0]},
    }
    measured = run_point(parse_grid(raw, measured=True).points()[0])
    truth = run_point(parse_grid(raw).points()[0])
    assert measured["map_source"] == MEASURED_SOURCE and truth["map_source"] == TRUTH_SOURCE
    assert measured["n_dies"] == truth["n_dies"] == 2.0
    assert measured["baseline_pct"] == truth["baseline_pct"]  # the wafer does not enter it
    # Read noise and the sweep's thresholds make the maps differ a little, not a lot.
    assert abs(measured["unaware.mean_pct"] - truth["unaware.mean_pct"]) < 2.0

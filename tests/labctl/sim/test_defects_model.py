"""Defect placement: across-die rate mixture, type mix, whole-line failures."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.core.defects import DefectCode
from labctl.sim.defects_model import (
    apply_line_failures,
    draw_cell_defects,
    draw_die_defect_rate,
    draw_line_failures,
)
from labctl.sim.params import SimParams

PARAMS = SimParams()


def test_die_defect_rates_mostly_under_one_percent_with_a_bad_tail() -> None:
    rng = np.random.default_rng(0)
    rates = np.array([draw_die_defect_rate(rng, PARAMS) for _ in range(4000)])
    assert 0.002 < np.median(rates) < 0.01
    assert 0.8 < np.mean(rates < 0.01) < 0.95
    assert 0.05 < np.mean(rates > 0.015) < 0.2
    assert rates.max() <= PARAMS.defect_rate_max
    assert rates.min() > 0


def test_bad_die_probability_zero_removes_the_tail() -> None:
    rng = np.random.default_rng(1)
    params = SimParams(bad_die_probability=0.0, defect_rate_good_sigma_log=0.1)
    rates = np.array([draw_die_defect_rate(rng, params) for _ in range(500)])
    assert rates.max() < 0.01


def test_cell_defects_follow_rate_and_type_weights() -> None:
    rng = np.random.default_rng(2)
    codes = draw_cell_defects(rng, (400, 500), 0.2, PARAMS)
    assert codes.shape == (400, 500) and codes.dtype == np.uint8
    assert np.mean(codes != DefectCode.OK) == pytest.approx(0.2, abs=0.005)
    weights = np.array(PARAMS.defect_weights) / sum(PARAMS.defect_weights)
    counts = np.array([np.count_nonzero(codes == c) for c in range(1, 5)])
    np.testing.assert_allclose(counts / counts.sum(), weights, atol=0.01)


def test_zero_weight_type_never_appears() -> None:
    params = SimParams(defect_weight_short=0.0, defect_weight_open=0.0)
    codes = draw_cell_defects(np.random.default_rng(3), (100, 100), 0.3, params)
    assert not np.any((codes == DefectCode.SHORT) | (codes == DefectCode.OPEN))
    assert np.any(codes == DefectCode.STUCK_P) and np.any(codes == DefectCode.STUCK_AP)


def test_zero_rate_gives_a_clean_tile() -> None:
    codes = draw_cell_defects(np.random.default_rng(4), (10, 10), 0.0, PARAMS)
    assert not codes.any()


def test_line_failures_are_distinct_lines_inside_the_tiles() -> None:
    params = SimParams(line_failures_per_die_mean=20.0)
    failures = draw_line_failures(np.random.default_rng(5), params)
    assert 5 < len(failures) < 40
    assert len(set(failures)) == len(failures)
    for tile, axis, index in failures:
        rows, cols = params.tile_shapes[tile]
        assert axis in ("row", "col")
        assert 0 <= index < (rows if axis == "row" else cols)


def test_no_line_failures_when_mean_is_zero() -> None:
    params = SimParams(line_failures_per_die_mean=0.0)
    assert draw_line_failures(np.random.default_rng(6), params) == []


def test_applied_line_failures_open_every_cell_of_the_line() -> None:
    defects = [np.zeros((6, 5), np.uint8), np.full((5, 2), DefectCode.STUCK_P, np.uint8)]
    apply_line_failures(defects, [(0, "row", 2), (1, "col", 1)])
    assert np.all(defects[0][2] == DefectCode.OPEN)
    assert np.count_nonzero(defects[0]) == 5
    assert np.all(defects[1][:, 1] == DefectCode.OPEN)
    assert np.all(defects[1][:, 0] == DefectCode.STUCK_P)

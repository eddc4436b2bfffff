"""Wafer statistics: line failures, defect rates by class, robust resistance spreads."""

from __future__ import annotations

import numpy as np
import pytest
from training_helpers import G_AP_S, G_P_S, G_SHORT_S, synthetic_tile

from labctl.core.defects import DefectCode
from labctl.core.errors import DataFormatError
from labctl.training.maps import DieMaps, TileMap
from labctl.training.statistics import failed_lines, tile_statistics, wafer_statistics


def test_failed_lines_need_most_of_a_line_in_one_class() -> None:
    defects = np.zeros((6, 8), dtype=np.uint8)
    defects[2, :] = DefectCode.OPEN
    defects[:, 5] = DefectCode.SHORT
    defects[4, :3] = DefectCode.STUCK_P  # 3 of 8: not a line failure
    rows, cols = failed_lines(defects)
    assert rows.tolist() == [0, 0, DefectCode.OPEN, 0, 0, 0]
    assert cols.tolist() == [0, 0, 0, 0, 0, DefectCode.SHORT, 0, 0]


def test_rates_exclude_failed_lines_and_medians_are_robust() -> None:
    rng = np.random.default_rng(1)
    tile = synthetic_tile(rng, (100, 50), rates=(0.02, 0.01, 0.01, 0.03), failed_rows=[7])
    stats = tile_statistics([tile])
    assert stats.row_line_rates[0, DefectCode.OPEN] == pytest.approx(1 / 100)
    assert stats.col_line_rates[0, 0] == 1.0
    np.testing.assert_allclose(stats.cell_rates[0, 1:], [0.02, 0.01, 0.01, 0.03], atol=0.006)
    assert stats.cell_rates[0].sum() == pytest.approx(1.0)
    assert np.exp(stats.log_g_p_median[0]) == pytest.approx(G_P_S, rel=0.01)
    assert np.exp(stats.log_ratio_median[0]) == pytest.approx(G_P_S / G_AP_S, rel=0.01)
    assert stats.log_g_p_sigma[0] == pytest.approx(0.03, rel=0.1)
    assert np.median(stats.short_ratio_samples) == pytest.approx(G_SHORT_S / G_P_S, rel=0.1)


def test_wafer_statistics_are_per_die_and_summarised() -> None:
    rng = np.random.default_rng(2)
    good = DieMaps("die_02_00", (synthetic_tile(rng, (40, 20), (0.001, 0, 0, 0)),))
    bad = DieMaps("die_03_00", (synthetic_tile(rng, (40, 20), (0.05, 0, 0, 0)),))
    stats = wafer_statistics([good, bad])
    assert stats.die_names == ("die_02_00", "die_03_00")
    rates = stats.tiles[0].cell_rates[:, DefectCode.SHORT]
    assert rates[1] > 10 * rates[0]
    summary = stats.summary()
    assert summary["n_dies"] == 2
    assert summary["tiles"][0]["cell_defect_rate"]["short"] == pytest.approx(rates.mean())


def test_tile_without_working_cells_is_an_error() -> None:
    dead = TileMap(np.zeros((2, 2)), np.zeros((2, 2)), np.full((2, 2), 2, dtype=np.uint8))
    with pytest.raises(DataFormatError):
        tile_statistics([dead])


def test_defect_rates_scale_for_a_robustness_margin() -> None:
    rng = np.random.default_rng(3)
    tiles = [synthetic_tile(rng, (40, 30), (0.02, 0.01, 0.0, 0.01), failed_rows=[2])]
    stats = wafer_statistics([DieMaps("die_02_00", tuple(tiles))])
    harsher = stats.with_defect_rates_scaled(1.5)
    before, after = stats.tiles[0], harsher.tiles[0]
    np.testing.assert_allclose(after.cell_rates[:, 1:], 1.5 * before.cell_rates[:, 1:])
    np.testing.assert_allclose(after.row_line_rates[:, 1:], 1.5 * before.row_line_rates[:, 1:])
    np.testing.assert_allclose(after.cell_rates.sum(axis=1), 1.0)
    assert after.log_g_p_median == pytest.approx(before.log_g_p_median)
    capped = stats.with_defect_rates_scaled(1e6).tiles[0]
    assert capped.cell_rates[0, DefectCode.OK] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(capped.cell_rates.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="factor"):
        stats.with_defect_rates_scaled(0.0)

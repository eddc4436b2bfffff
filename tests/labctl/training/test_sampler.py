"""Virtual dies: the sampler reproduces the statistics it was given, reproducibly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from training_helpers import synthetic_tile

from labctl.core.defects import DefectCode
from labctl.training.crossbar import tile_response
from labctl.training.maps import DieMaps, TileMap
from labctl.training.sampler import DieSampler
from labctl.training.statistics import wafer_statistics

SHAPES = ((60, 30), (30, 6))


def source_wafer() -> list[DieMaps]:
    """Three good dies and one bad die, one with a failed row, one with a failed column."""
    rng = np.random.default_rng(7)
    dies = []
    for i, (rates, rows, cols) in enumerate(
        [
            ((0.002, 0.001, 0.001, 0.001), [], []),
            ((0.003, 0.002, 0.002, 0.001), [5], []),
            ((0.001, 0.001, 0.002, 0.003), [], [3]),
            ((0.04, 0.02, 0.01, 0.01), [], []),
        ]
    ):
        tiles = tuple(
            synthetic_tile(
                rng,
                shape,
                rates,
                failed_rows=rows if k == 0 else [],
                failed_cols=cols if k == 0 else [],
            )
            for k, shape in enumerate(SHAPES)
        )
        dies.append(DieMaps(f"die_0{i + 2}_00", tiles))
    return dies


def as_maps(sampler: DieSampler, n: int) -> tuple[list[DieMaps], np.ndarray]:
    tiles = sampler.sample_tiles(n)
    maps = [
        DieMaps(
            f"v{i}",
            tuple(
                TileMap(
                    t.g_p_S[i].double().numpy(), t.g_ap_S[i].double().numpy(), t.defects[i].numpy()
                )
                for t in tiles
            ),
        )
        for i in range(n)
    ]
    return maps, tiles[0].source.numpy()


def test_sampled_dies_reproduce_the_input_statistics() -> None:
    source = wafer_statistics(source_wafer())
    maps, drawn_from = as_maps(DieSampler(source, seed=3), 400)
    assert np.bincount(drawn_from, minlength=4).min() > 60  # every source die is used
    for i in range(len(source.die_names)):
        resampled = wafer_statistics([m for m, s in zip(maps, drawn_from, strict=True) if s == i])
        for want, got in zip(source.tiles, resampled.tiles, strict=True):
            # Defect rates by class of this source die, and its line failures.
            n_cells = want.shape[0] * want.shape[1]
            np.testing.assert_allclose(
                got.cell_rates.mean(axis=0)[1:],
                want.cell_rates[i, 1:],
                atol=4 * np.sqrt(want.cell_rates[i, 1:].max() / (n_cells * 60)) + 1e-4,
            )
            for lines in ("row_line_rates", "col_line_rates"):
                failed_want = 1 - getattr(want, lines)[i, 0]
                failed_got = 1 - getattr(got, lines)[:, 0].mean()
                assert failed_got == pytest.approx(failed_want, rel=0.35, abs=2e-3)
            # Resistance distributions: median and spread of G_P and of G_P / G_AP.
            for name in ("log_g_p_median", "log_ratio_median"):
                assert np.median(getattr(got, name)) == pytest.approx(
                    getattr(want, name)[i], abs=0.01
                )
            for name in ("log_g_p_sigma", "log_ratio_sigma"):
                assert np.median(getattr(got, name)) == pytest.approx(
                    getattr(want, name)[i], rel=0.15
                )
    # The spread between dies survives: the bad die stays bad.
    resampled = wafer_statistics(maps)
    shorts = resampled.tiles[0].cell_rates[:, DefectCode.SHORT]
    assert shorts.max() > 5 * np.median(shorts)
    want_short = source.tiles[0].short_ratio_samples
    got_short = resampled.tiles[0].short_ratio_samples
    assert np.median(got_short) == pytest.approx(np.median(want_short), rel=0.1)


def test_sampling_is_reproducible_and_fresh() -> None:
    stats = wafer_statistics(source_wafer())
    a = DieSampler(stats, seed=1).sample_tiles(3)
    b = DieSampler(stats, seed=1).sample_tiles(3)
    for ta, tb in zip(a, b, strict=True):
        torch.testing.assert_close(ta.g_p_S, tb.g_p_S)
        assert torch.equal(ta.defects, tb.defects)
    sampler = DieSampler(stats, seed=1)
    first, second = sampler.sample_tiles(2), sampler.sample_tiles(2)
    assert not torch.equal(first[0].g_p_S, second[0].g_p_S)


def test_sampled_response_matches_the_measured_die_formula() -> None:
    tiles = DieSampler(wafer_statistics(source_wafer()), seed=5).sample_tiles(4)
    for tile in tiles:
        fast = tile.response()
        exact = tile_response(tile.g_p_S.double(), tile.g_ap_S.double(), tile.defects.long())
        # Same formula; only the reference level differs (source die's vs the virtual die's own
        # median), by far less than one weight step.
        signs = torch.ones_like(fast.offset)
        diff = (fast.effective_weights(signs) - exact.effective_weights(signs)).abs()
        assert float(diff.max()) < 0.1
        defective = tile.defects != 0
        assert torch.all(fast.gain[defective] == 0)

"""The cell classifier: agreement with ground truth, thresholds from the die's own statistics."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.analysis.classify import (
    ClassificationError,
    ClassifierConfig,
    TileThresholds,
    classify_tile,
)
from labctl.core.defects import DefectCode
from labctl.core.geometry import READ_CAP_OHM
from labctl.sim.params import SimParams
from labctl.sim.wafer import DieModel, VirtualWafer
from labctl.testing.synthetic import SyntheticParams, synthetic_die, synthetic_tile

V_READ_V = 0.1
V_GATE_V = 1.2
WRITE_V = 0.8
WRITE_WIDTH_S = 50e-9


def measure_tile(die: DieModel, tile: int, cycles: int) -> tuple[np.ndarray, np.ndarray]:
    """What the die characterisation does, straight on the die model: write all cells P, read
    all, write all AP, read all, `cycles` times; resistance = V / I capped at 1e12 ohm."""
    rows, cols = die.tile_shape(tile)
    r_idx, c_idx = (a.ravel() for a in np.indices((rows, cols)))
    reads: dict[bool, list[np.ndarray]] = {False: [], True: []}
    for _ in range(cycles):
        for target_ap in (False, True):
            die.write(tile, r_idx, c_idx, target_ap, WRITE_V, WRITE_WIDTH_S)
            current = die.read_current_A(tile, r_idx, c_idx, V_READ_V, V_GATE_V, 1.0)
            floor = V_READ_V / READ_CAP_OHM
            ohm = np.where(current > floor, V_READ_V / np.maximum(current, floor), READ_CAP_OHM)
            reads[target_ap].append(ohm.reshape(rows, cols))
    return np.array(reads[False]), np.array(reads[True])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_simulator_truth_on_every_die(seed: int) -> None:
    wafer = VirtualWafer(seed)
    cells = disagreements = 0
    shorts_opens = 0
    for die in wafer.dies():
        for k in range(die.n_tiles):
            truth = die.truth(k).defects
            result = classify_tile(*measure_tile(die, k, cycles=2))
            wrong = result.defects != truth
            cells += wrong.size
            disagreements += int(wrong.sum())
            hard = np.isin(truth, [DefectCode.SHORT, DefectCode.OPEN])
            shorts_opens += int(hard.sum())
            assert not (wrong & hard).any(), f"{die.name} tile {k}: a short or open was missed"
            assert not (wrong & np.isin(result.defects, [DefectCode.SHORT, DefectCode.OPEN])).any()
    assert shorts_opens > 100  # the check above had something to check
    assert disagreements / cells <= 1e-3


@pytest.mark.parametrize("cycles", [1, 2, 3])
@pytest.mark.parametrize(
    "params",
    [
        SyntheticParams(),
        SyntheticParams(defect_rate=0.1, open_columns=3),
        SyntheticParams(
            cell=SimParams(r_p_device_sigma_log=0.12, tmr_median=0.8, tmr_device_sigma_log=0.15)
        ),
    ],
    ids=["nominal", "bad-die", "wide-spread-low-tmr"],
)
def test_agrees_with_synthetic_truth(cycles: int, params: SyntheticParams) -> None:
    for seed in range(2):
        for tile in synthetic_die(seed, cycles=cycles, params=params):
            result = classify_tile(tile.reads_parallel_ohm, tile.reads_antiparallel_ohm)
            wrong = result.defects != tile.defects
            assert wrong.mean() <= 1e-3
            hard = np.isin(tile.defects, [DefectCode.SHORT, DefectCode.OPEN])
            assert not (wrong & hard).any()


def test_ok_cells_report_their_own_resistances_and_tmr() -> None:
    tile = synthetic_die(4, cycles=3)[0]
    result = classify_tile(tile.reads_parallel_ohm, tile.reads_antiparallel_ohm)
    ok = tile.defects == DefectCode.OK
    noise = SyntheticParams().cell.read_noise_rel_nplc1
    np.testing.assert_allclose(result.r_parallel_ohm[ok], tile.r_parallel_ohm[ok], rtol=5 * noise)
    np.testing.assert_allclose(
        result.r_antiparallel_ohm[ok], tile.r_antiparallel_ohm[ok], rtol=5 * noise
    )
    np.testing.assert_allclose(
        result.tmr[ok], result.r_antiparallel_ohm[ok] / result.r_parallel_ohm[ok] - 1.0
    )
    stuck = np.isin(tile.defects, [DefectCode.STUCK_P, DefectCode.STUCK_AP])
    assert np.all(np.abs(result.tmr[stuck]) < 10 * noise)


def test_write_failures_are_counted_and_do_not_make_a_cell_defective() -> None:
    params = SyntheticParams(write_error_rate=0.05)
    tile = synthetic_die(5, tile_shapes=((196, 100),), cycles=3, params=params)[0]
    result = classify_tile(tile.reads_parallel_ohm, tile.reads_antiparallel_ohm)
    ok = tile.defects == DefectCode.OK
    # A healthy cell is only mistaken for a stuck one if it missed every write of one state.
    assert (result.defects[ok] != DefectCode.OK).mean() < 1e-3
    flaky = result.write_failures > 0
    assert 0.05 < flaky[ok].mean() < 0.5
    assert not flaky[~ok].any()
    assert result.write_failures.dtype == np.uint8


def test_thresholds_follow_the_die_not_fixed_ohm_values() -> None:
    """A die whose resistances are all 2.5x higher gets the same classes, thresholds x 2.5."""
    tile = synthetic_die(6)[0]
    base = classify_tile(tile.reads_parallel_ohm, tile.reads_antiparallel_ohm)
    scaled = classify_tile(2.5 * tile.reads_parallel_ohm, 2.5 * tile.reads_antiparallel_ohm)
    np.testing.assert_array_equal(scaled.defects, base.defects)
    assert scaled.thresholds.short_max_ohm == pytest.approx(2.5 * base.thresholds.short_max_ohm)
    assert scaled.thresholds.open_min_ohm == pytest.approx(2.5 * base.thresholds.open_min_ohm)
    assert scaled.thresholds.sigma_log10_r_parallel == pytest.approx(
        base.thresholds.sigma_log10_r_parallel
    )
    th = base.thresholds
    assert th.short_max_ohm < 10**th.median_log10_r_parallel < 10**th.median_log10_r_antiparallel
    assert 10**th.median_log10_r_antiparallel < th.open_min_ohm
    assert th.switch_min_log10_span == pytest.approx(th.median_log10_contrast / 2)
    # 2 cycles: the read noise is measured, ~0.3 % relative = 0.0013 in log10.
    assert th.read_noise_log10 == pytest.approx(np.log10(1.003), rel=0.2)


def test_outlier_z_moves_the_short_and_open_thresholds() -> None:
    tile = synthetic_die(7)[1]
    loose = classify_tile(*_reads(tile), ClassifierConfig(outlier_z=4.0)).thresholds
    strict = classify_tile(*_reads(tile), ClassifierConfig(outlier_z=12.0)).thresholds
    assert strict.short_max_ohm < loose.short_max_ohm
    assert strict.open_min_ohm > loose.open_min_ohm
    assert strict.outlier_z == 12.0
    with pytest.raises(ValueError, match="outlier_z"):
        ClassifierConfig(outlier_z=0.0)


def test_thresholds_round_trip_through_attributes() -> None:
    tile = synthetic_die(8)[1]
    th = classify_tile(*_reads(tile)).thresholds
    attrs = th.as_attrs()
    assert all(key.startswith("threshold_") for key in attrs)
    assert TileThresholds.from_attrs(dict(attrs)) == th
    single = classify_tile(tile.reads_parallel_ohm[:1], tile.reads_antiparallel_ohm[:1])
    assert np.isnan(single.thresholds.read_noise_log10)


def test_a_tile_without_contact_is_refused() -> None:
    rng = np.random.default_rng(0)
    # Noise-level currents: every read is huge and random, or capped.
    noise = np.clip(1e10 * np.exp(rng.normal(0, 1.0, (2, 50, 20))), 0, READ_CAP_OHM)
    with pytest.raises(ClassificationError, match="no P/AP switching"):
        classify_tile(noise, np.clip(1e10 * np.exp(rng.normal(0, 1.0, (2, 50, 20))), 0, 1e12))
    with pytest.raises(ClassificationError):
        classify_tile(np.full((2, 50, 20), READ_CAP_OHM), np.full((2, 50, 20), READ_CAP_OHM))


@pytest.mark.parametrize("drift", [0.0, 1e-3])
def test_a_tile_whose_writes_had_no_effect_is_refused(drift: float) -> None:
    """Both phases read the same states (plus independent noise, plus a small drift)."""
    rng = np.random.default_rng(1)
    tile = synthetic_tile(rng, (60, 30), cycles=2)
    p = tile.reads_parallel_ohm
    ap = p * (1 + drift) * (1 + 0.003 * rng.standard_normal(p.shape))
    with pytest.raises(ClassificationError, match="writes had no effect"):
        classify_tile(p, ap)


def test_single_reads_may_be_given_as_rows_by_cols() -> None:
    tile = synthetic_tile(np.random.default_rng(2), (60, 30), cycles=1)
    result = classify_tile(tile.reads_parallel_ohm[0], tile.reads_antiparallel_ohm[0])
    assert result.shape == (60, 30)
    np.testing.assert_array_equal(result.defects, tile.defects)


@pytest.mark.parametrize(
    ("p", "ap", "message"),
    [
        (np.full((2, 4, 4), np.nan), np.ones((2, 4, 4)), "positive, finite"),
        (-np.ones((2, 4, 4)), np.ones((2, 4, 4)), "positive, finite"),
        (np.ones((2, 4, 4)), np.ones((2, 4, 5)), "differ in tile shape"),
        (np.ones(4), np.ones(4), "cycles, rows, cols"),
    ],
)
def test_bad_input_is_rejected(p: np.ndarray, ap: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classify_tile(p, ap)


def _reads(tile):  # type: ignore[no-untyped-def]
    return tile.reads_parallel_ohm, tile.reads_antiparallel_ohm

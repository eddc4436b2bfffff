"""VirtualWafer and DieModel: determinism, variation, reads, writes, defects, inference."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.core.defects import DefectCode
from labctl.core.wafer_map import ALL_DIE_NAMES, WAFER_MAP
from labctl.sim.params import SimParams
from labctl.sim.physics import tmr_at_bias
from labctl.sim.wafer import DieModel, VirtualWafer, noise_current_A

PARAMS = SimParams()
V_READ = 0.1
V_GATE = PARAMS.v_gate_nominal_V


def all_cells(die: DieModel, tile: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.indices(die.tile_shape(tile))
    return rows.ravel(), cols.ravel()


@pytest.fixture(scope="module")
def wafer() -> VirtualWafer:
    """Read-only wafer for statistics (tests that write build their own die)."""
    return VirtualWafer(seed=0)


def fresh_die(seed: int = 0, col: int = 3, row: int = 2) -> DieModel:
    return VirtualWafer(seed).die(col, row)


# --- wafer layout and determinism ----------------------------------------------------------------
def test_wafer_has_36_dies_in_map_order_built_once(wafer: VirtualWafer) -> None:
    dies = list(wafer.dies())
    assert [(d.col, d.row) for d in dies] == list(WAFER_MAP)
    assert [d.name for d in dies] == list(ALL_DIE_NAMES)
    assert wafer.die(3, 0) is dies[1]
    assert dies[0].n_tiles == 2
    assert [dies[0].tile_shape(k) for k in range(2)] == [(196, 100), (100, 10)]


def test_off_map_position_is_a_key_error(wafer: VirtualWafer) -> None:
    with pytest.raises(KeyError):
        wafer.die(0, 0)
    with pytest.raises(KeyError):
        wafer.die(8, 3)


def test_same_seed_same_wafer_whatever_the_visiting_order() -> None:
    forward = VirtualWafer(7)
    backward = VirtualWafer(7)
    for col, row in reversed(WAFER_MAP):
        backward.die(col, row)
    for col, row in [(4, 3), (0, 2)]:
        a, b = forward.die(col, row).truth_arrays(), backward.die(col, row).truth_arrays()
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        assert forward.die(col, row).gross_short == backward.die(col, row).gross_short


def test_noise_and_switching_are_seeded_per_die() -> None:
    def session(other_first: bool) -> tuple[np.ndarray, np.ndarray]:
        w = VirtualWafer(3)
        if other_first:
            w.die(5, 5).read_current_A(0, [0, 1], [0, 1], V_READ, V_GATE)
        die = w.die(2, 1)
        rows, cols = all_cells(die, 1)
        die.write(1, rows, cols, True, 0.45, 10e-9)
        return die.read_current_A(1, rows, cols, V_READ, V_GATE), die.truth(1).state_ap

    (i_a, s_a), (i_b, s_b) = session(False), session(True)
    np.testing.assert_array_equal(i_a, i_b)
    np.testing.assert_array_equal(s_a, s_b)


def test_different_seeds_give_different_devices() -> None:
    a = VirtualWafer(1).die(3, 0).truth(0).r_p_ohm
    b = VirtualWafer(2).die(3, 0).truth(0).r_p_ohm
    assert not np.array_equal(a, b)


def test_custom_tile_shapes() -> None:
    die = VirtualWafer(0, SimParams(tile_shapes=((8, 4), (4, 2), (2, 1)))).die(3, 0)
    assert die.n_tiles == 3
    assert die.truth(2).defects.shape == (2, 1)


# --- device-to-device and die-to-die variation ---------------------------------------------------
def test_r_p_and_tmr_medians_and_spreads(wafer: VirtualWafer) -> None:
    die_medians_r, die_medians_tmr, device_sigma = [], [], []
    for die in wafer.dies():
        truth = die.truth(0)
        ok = truth.defects == DefectCode.OK
        die_medians_r.append(np.median(truth.r_p_ohm[ok]))
        die_medians_tmr.append(np.median(truth.tmr0[ok]))
        device_sigma.append(np.std(np.log(truth.r_p_ohm[ok])))
    assert np.median(die_medians_r) == pytest.approx(PARAMS.r_p_median_ohm, rel=0.05)
    assert np.median(die_medians_tmr) == pytest.approx(PARAMS.tmr_median, rel=0.05)
    assert np.median(device_sigma) == pytest.approx(PARAMS.r_p_device_sigma_log, rel=0.1)
    die_sigma = np.std(np.log(die_medians_r))
    assert 0.5 * PARAMS.r_p_die_sigma_log < die_sigma < 2 * PARAMS.r_p_die_sigma_log


def test_r_on_truth_is_at_nominal_gate(wafer: VirtualWafer) -> None:
    r_on = wafer.die(4, 2).truth(0).r_on_ohm
    assert np.median(r_on) == pytest.approx(PARAMS.r_on_median_ohm, rel=0.02)


def test_initial_state_is_random_half_and_half(wafer: VirtualWafer) -> None:
    truth = wafer.die(4, 2).truth(0)
    ok = truth.defects == DefectCode.OK
    assert 0.47 < truth.state_ap[ok].mean() < 0.53


def test_truth_is_a_copy() -> None:
    die = fresh_die()
    truth = die.truth(0)
    truth.state_ap[:] = ~truth.state_ap
    truth.r_p_ohm[:] = 0.0
    assert not np.array_equal(die.truth(0).state_ap, truth.state_ap)
    assert die.truth(0).r_p_ohm.min() > 0


def test_truth_arrays_lists_every_tile_and_field(wafer: VirtualWafer) -> None:
    arrays = wafer.die(3, 0).truth_arrays()
    assert "tile0/r_p_ohm" in arrays and "tile1/defects" in arrays
    assert arrays["tile1/state_ap"].shape == (100, 10)
    assert arrays["tile0/defects"].dtype == np.uint8
    assert arrays["tile0/intermittent"].dtype == np.bool_
    assert len(arrays) == 2 * 8


# --- reads ---------------------------------------------------------------------------------------
def test_read_is_ohmic_series_of_mtj_and_transistor(wafer: VirtualWafer) -> None:
    die = wafer.die(5, 3)
    truth = die.truth(0)
    rows, cols = all_cells(die, 0)
    tmr = np.where(truth.state_ap, tmr_at_bias(truth.tmr0, V_READ, PARAMS.tmr_v_half_V), 0.0)
    expected_ohm = truth.r_p_ohm * (1 + tmr) + truth.r_on_ohm  # gate at nominal
    ideal = die.ideal_current_A(0, rows, cols, V_READ, V_GATE).reshape(truth.r_p_ohm.shape)
    np.testing.assert_allclose(ideal, V_READ / expected_ohm, rtol=1e-12)
    np.testing.assert_allclose(die.cell_resistance_ohm(0, V_READ), expected_ohm, rtol=1e-12)
    measured = die.read_current_A(0, rows, cols, V_READ, V_GATE, nplc=1.0)
    ok = ((truth.defects == DefectCode.OK) & ~truth.intermittent).ravel()
    rel_error = (measured - ideal.ravel())[ok] / ideal.ravel()[ok]
    assert np.std(rel_error) == pytest.approx(PARAMS.read_noise_rel_nplc1, rel=0.05)
    assert abs(np.mean(rel_error)) < 1e-4


def test_read_noise_falls_as_inverse_sqrt_nplc() -> None:
    die = fresh_die()
    rows, cols = np.zeros(4000, int), np.zeros(4000, int)
    sd_1 = np.std(die.read_current_A(0, rows, cols, V_READ, V_GATE, nplc=1.0))
    sd_10 = np.std(die.read_current_A(0, rows, cols, V_READ, V_GATE, nplc=10.0))
    assert sd_1 / sd_10 == pytest.approx(np.sqrt(10), rel=0.08)


def test_tmr_shrinks_with_read_bias_p_does_not() -> None:
    die = fresh_die()
    rows, cols = all_cells(die, 1)
    ok = die.truth(1).defects.ravel() == DefectCode.OK
    die.write(1, rows, cols, True, 0.8, 100e-9)
    r_ap = [die.cell_resistance_ohm(1, v).ravel()[ok] for v in (0.05, 0.2, 0.4)]
    die.write(1, rows, cols, False, 0.8, 100e-9)
    r_p = [die.cell_resistance_ohm(1, v).ravel()[ok] for v in (0.05, 0.2, 0.4)]
    assert np.all(r_ap[0] > r_ap[1]) and np.all(r_ap[1] > r_ap[2])
    np.testing.assert_allclose(r_p[0], r_p[2])
    # sign of the bias only flips the current
    plus = die.ideal_current_A(1, rows, cols, 0.2, V_GATE)
    np.testing.assert_allclose(die.ideal_current_A(1, rows, cols, -0.2, V_GATE), -plus)


def test_writing_p_then_ap_changes_reading_by_the_device_tmr() -> None:
    die = fresh_die()
    rows, cols = all_cells(die, 0)
    truth = die.truth(0)
    ok = ((truth.defects == DefectCode.OK) & ~truth.intermittent).ravel()
    die.write(0, rows, cols, False, 0.8, 100e-9)
    r_p = V_READ / die.read_current_A(0, rows, cols, V_READ, V_GATE, nplc=10)
    die.write(0, rows, cols, True, 0.8, 100e-9)
    r_ap = V_READ / die.read_current_A(0, rows, cols, V_READ, V_GATE, nplc=10)
    tmr_measured = (r_ap - r_p)[ok] / (r_p - truth.r_on_ohm.ravel())[ok]
    tmr_true = tmr_at_bias(truth.tmr0.ravel()[ok], V_READ, PARAMS.tmr_v_half_V)
    np.testing.assert_allclose(tmr_measured, tmr_true, rtol=0.03)


def test_gate_voltage_sets_on_resistance_and_below_threshold_reads_noise() -> None:
    die = fresh_die()
    rows, cols = all_cells(die, 1)
    strong = die.ideal_current_A(1, rows, cols, V_READ, 1.5)
    nominal = die.ideal_current_A(1, rows, cols, V_READ, V_GATE)
    weak = die.ideal_current_A(1, rows, cols, V_READ, 0.7)
    ok = die.truth(1).defects.ravel() == DefectCode.OK
    assert np.all(strong[ok] > nominal[ok]) and np.all(nominal[ok] > weak[ok])
    off = die.read_current_A(1, rows, cols, V_READ, die.v_threshold_V - 0.01, nplc=1)
    assert np.abs(off).max() < 6 * PARAMS.noise_floor_A_nplc1
    assert np.std(off) == pytest.approx(PARAMS.noise_floor_A_nplc1, rel=0.15)


def test_noise_helper_for_lifted_probes() -> None:
    readings = noise_current_A(500, 1.0, np.random.default_rng(0))
    assert readings.shape == (500,)
    assert np.abs(readings).max() < 6 * PARAMS.noise_floor_A_nplc1
    assert fresh_die().noise_current_A(3).shape == (3,)


def test_bad_indices_are_refused() -> None:
    die = fresh_die()
    with pytest.raises(IndexError):
        die.read_current_A(2, [0], [0], V_READ, V_GATE)
    with pytest.raises(IndexError):
        die.read_current_A(1, [100], [0], V_READ, V_GATE)
    with pytest.raises(IndexError):
        die.read_current_A(1, [-1], [0], V_READ, V_GATE)
    with pytest.raises(IndexError):
        die.write(1, [0], [10], True, 0.8, 1e-7)
    with pytest.raises(ValueError, match="length"):
        die.read_current_A(1, [0, 1], [0], V_READ, V_GATE)
    with pytest.raises(ValueError, match="magnitude"):
        die.write(1, [0], [0], True, -0.8, 1e-7)
    assert die.read_current_A(1, [], [], V_READ, V_GATE).shape == (0,)


# --- writes --------------------------------------------------------------------------------------
def test_nominal_write_always_switches_ok_cells() -> None:
    die = fresh_die()
    rows, cols = all_cells(die, 0)
    ok = die.truth(0).defects.ravel() == DefectCode.OK
    for target in (True, False, True):
        die.write(0, rows, cols, target, 0.8, 100e-9)
        assert np.all(die.truth(0).state_ap.ravel()[ok] == target)


def failure_fraction(amplitude_V: float, width_s: float) -> float:
    """Fraction of OK cells of a die's tile 0 that a P -> AP pulse leaves in P."""
    die = fresh_die(seed=11)
    rows, cols = all_cells(die, 0)
    ok = die.truth(0).defects.ravel() == DefectCode.OK
    die.write(0, rows, cols, False, 0.8, 100e-9)
    die.write(0, rows, cols, True, amplitude_V, width_s)
    return float(np.mean(~die.truth(0).state_ap.ravel()[ok]))


def test_under_driven_writes_sometimes_fail_and_failures_fall_with_drive() -> None:
    by_amplitude = [failure_fraction(a, 100e-9) for a in (0.35, 0.42, 0.45, 0.5, 0.8)]
    assert by_amplitude[0] > 0.99
    assert np.all(np.diff(by_amplitude) <= 0)
    assert 0.005 < by_amplitude[2] < 0.5
    assert by_amplitude[-1] == 0.0
    by_width = [failure_fraction(0.8, w) for w in (2e-9, 5e-9, 10e-9, 100e-9)]
    assert np.all(np.diff(by_width) < 0)
    assert 0.005 < by_width[2] < 0.5
    assert by_width[-1] == 0.0


def test_zero_amplitude_or_width_changes_nothing() -> None:
    die = fresh_die()
    rows, cols = all_cells(die, 1)
    before = die.truth(1).state_ap
    die.write(1, rows, cols, ~before.ravel(), 0.0, 100e-9)
    die.write(1, rows, cols, ~before.ravel(), 0.8, 0.0)
    np.testing.assert_array_equal(die.truth(1).state_ap, before)


def test_write_targets_per_cell_and_repeated_cells_get_repeated_pulses() -> None:
    die = fresh_die()
    rows, cols = all_cells(die, 1)
    ok = die.truth(1).defects.ravel() == DefectCode.OK
    pattern = (rows + cols) % 2 == 1
    die.write(1, rows, cols, pattern, 0.8, 100e-9)
    np.testing.assert_array_equal(die.truth(1).state_ap.ravel()[ok], pattern[ok])
    # one cell, 200 weak pulses: each alone rarely switches, together they do
    r, c = int(np.nonzero(die.truth(1).defects[:, 0] == DefectCode.OK)[0][0]), 0
    die.write(1, [r], [c], False, 0.8, 100e-9)
    vc = die.truth(1).vc_p2ap_V[r, c]
    die.write(1, [r] * 200, [c] * 200, True, vc * 0.93, 20e-9)
    assert die.truth(1).state_ap[r, c]


# --- defects -------------------------------------------------------------------------------------
def cells_of(die: DieModel, code: DefectCode) -> tuple[int, np.ndarray, np.ndarray]:
    for tile in range(die.n_tiles):
        rows, cols = np.nonzero(die.truth(tile).defects == code)
        if rows.size:
            return tile, rows, cols
    raise AssertionError(f"no {code.name} cell on {die.name}")


def test_each_defect_type_reads_as_it_should() -> None:
    die = fresh_die(seed=0, col=3, row=0)  # a die with every defect type
    tile, rows, cols = cells_of(die, DefectCode.SHORT)
    truth = die.truth(tile)
    healthy_ohm = np.median(die.cell_resistance_ohm(tile, V_READ)[truth.defects == 0])
    reads = []
    for target in (False, True):  # the junction under a pinhole still switches
        die.write(tile, rows, cols, target, 0.8, 100e-9)
        assert np.all(die.truth(tile).state_ap[rows, cols] == target)
        reads.append(V_READ / die.read_current_A(tile, rows, cols, V_READ, V_GATE, nplc=10))
        expected = die.cell_resistance_ohm(tile, V_READ)[rows, cols]
        np.testing.assert_allclose(reads[-1], expected, rtol=0.01)
        assert np.all(reads[-1] < 0.8 * healthy_ohm)
        assert np.all(reads[-1] > truth.r_on_ohm[rows, cols])  # partial: the pinhole has ohms
    contrast = reads[1] / reads[0] - 1.0
    assert np.all(contrast < 0.1)  # a few % of contrast left, far below a working cell's

    tile, rows, cols = cells_of(die, DefectCode.OPEN)
    current = die.read_current_A(tile, rows, cols, V_READ, V_GATE)
    assert np.abs(current).max() < 1e-9

    for code, stuck_ap in ((DefectCode.STUCK_P, False), (DefectCode.STUCK_AP, True)):
        tile, rows, cols = cells_of(die, code)
        for target in (not stuck_ap, stuck_ap, not stuck_ap):
            die.write(tile, rows, cols, target, 1.5, 1e-6)
            assert np.all(die.truth(tile).state_ap[rows, cols] == stuck_ap)
        expected = die.cell_resistance_ohm(tile, V_READ)[rows, cols]
        r_read = V_READ / die.read_current_A(tile, rows, cols, V_READ, V_GATE, nplc=10)
        np.testing.assert_allclose(r_read, expected, rtol=0.01)
        truth = die.truth(tile)
        r_mtj = r_read - truth.r_on_ohm[rows, cols]
        if stuck_ap:
            assert np.all(r_mtj > 1.5 * truth.r_p_ohm[rows, cols])
        else:
            np.testing.assert_allclose(r_mtj, truth.r_p_ohm[rows, cols], rtol=0.05)


def test_failed_lines_are_open_end_to_end(wafer: VirtualWafer) -> None:
    dies = [d for d in wafer.dies() if d.line_failures]
    assert dies, "seed 0 is expected to have at least one line failure"
    axes = set()
    for die in dies:
        for tile, axis, index in die.line_failures:
            axes.add(axis)
            defects = die.truth(tile).defects
            line = defects[index, :] if axis == "row" else defects[:, index]
            assert np.all(line == DefectCode.OPEN)
            n_rows, n_cols = die.tile_shape(tile)
            if axis == "row":
                rows, cols = np.full(n_cols, index), np.arange(n_cols)
            else:
                rows, cols = np.arange(n_rows), np.full(n_rows, index)
            current = die.read_current_A(tile, rows, cols, V_READ, V_GATE)
            assert np.abs(current).max() < 1e-9
    assert axes == {"row", "col"}


def test_defect_rates_across_dies_most_under_one_percent_few_worse() -> None:
    rates = np.array([[d.defect_rate() for d in VirtualWafer(s).dies()] for s in range(4)])
    assert rates.shape == (4, 36)
    assert np.mean(rates < 0.01) >= 0.8
    assert 0.002 <= np.median(rates) <= 0.006
    for per_seed in rates:
        assert np.sum(per_seed < 0.01) >= 26  # most dies of every wafer
    assert rates.max() > 0.015  # a few much worse
    assert rates.max() < 0.15


def test_defect_type_mix_over_the_wafer_follows_weights(wafer: VirtualWafer) -> None:
    counts = np.zeros(5)
    for die in wafer.dies():
        for tile in range(die.n_tiles):
            counts += np.bincount(die.truth(tile).defects.ravel(), minlength=5)
    random_counts = counts[1:].copy()
    line_cells = sum(
        wafer.die(d.col, d.row).tile_shape(t)[1 if axis == "row" else 0]
        for d in wafer.dies()
        for t, axis, _ in d.line_failures
    )
    random_counts[1] -= line_cells  # opens from line failures come on top of the mix
    weights = np.array(PARAMS.defect_weights) / sum(PARAMS.defect_weights)
    np.testing.assert_allclose(random_counts / random_counts.sum(), weights, atol=0.03)


def test_gross_short_sets_milliamp_gate_current() -> None:
    shorted = VirtualWafer(0, SimParams(gross_short_probability=1.0)).die(3, 0)
    healthy = VirtualWafer(0, SimParams(gross_short_probability=0.0)).die(3, 0)
    assert shorted.gross_short and not healthy.gross_short
    assert 0.5e-3 < shorted.gate_current_A(V_GATE) < 5e-3
    assert abs(healthy.gate_current_A(V_GATE)) < 1e-8


def test_gross_shorts_are_rare_across_wafers() -> None:
    n_short = sum(d.gross_short for s in range(5) for d in VirtualWafer(s).dies())
    assert n_short <= 20  # 180 dies at p = 0.03: about 5


# --- inference -----------------------------------------------------------------------------------
def test_inference_without_wire_resistance_is_the_linear_sum_of_cell_currents() -> None:
    die = VirtualWafer(0, SimParams(r_wire_bitline_ohm=0.0, intermittent_fraction=0.0)).die(3, 2)
    n_rows, n_cols = die.tile_shape(0)
    bits = np.random.default_rng(1).random(n_rows) < 0.5
    v_in = 0.2
    rows, cols = np.indices((n_rows, n_cols))
    per_cell = die.ideal_current_A(0, rows.ravel(), cols.ravel(), v_in, V_GATE)
    expected = per_cell.reshape(n_rows, n_cols)[bits].sum(axis=0)
    measured = die.infer_currents_A(0, bits, v_in, V_GATE, nplc=1)
    assert measured.shape == (n_cols,)
    np.testing.assert_allclose(measured, expected, rtol=6 * PARAMS.read_noise_rel_nplc1)
    assert not np.array_equal(measured, expected)  # noise is there
    silent = die.infer_currents_A(0, np.zeros(n_rows, bool), v_in, V_GATE)
    assert np.abs(silent).max() < 6 * PARAMS.noise_floor_A_nplc1


def test_inference_follows_stored_weights() -> None:
    die = fresh_die()
    n_rows, n_cols = die.tile_shape(1)
    rows, cols = np.indices((n_rows, n_cols))
    ones = np.ones(n_rows, bool)
    die.write(1, rows.ravel(), cols.ravel(), (cols.ravel() % 2) == 1, 0.8, 100e-9)
    currents = die.infer_currents_A(1, ones, 0.2, V_GATE, nplc=10)
    # AP columns (odd) carry less current than P columns (even)
    assert currents[1::2].max() < currents[0::2].min()


def test_inference_input_shape_is_checked() -> None:
    with pytest.raises(ValueError, match="one bit per row"):
        fresh_die().infer_currents_A(1, np.ones(10, bool), 0.2, V_GATE)


def test_bit_line_resistance_lowers_summed_currents_by_the_ir_drop() -> None:
    """The default wire loses about 1 % of a 196-row tile's current, more with more resistance;
    the linear sum (the training's emulation) is the r = 0 limit."""
    bits = np.random.default_rng(2).random(196) < 0.3
    loss = {}
    for r_wire in (0.0, PARAMS.r_wire_bitline_ohm, 0.05):
        params = SimParams(r_wire_bitline_ohm=r_wire)
        die = VirtualWafer(0, params).die(3, 2)
        loss[r_wire] = die.ideal_infer_currents_A(0, bits, V_READ, V_GATE)
    linear = loss.pop(0.0)
    default_loss = 1.0 - loss[PARAMS.r_wire_bitline_ohm] / linear
    assert 0.005 < default_loss.mean() < 0.02
    assert np.all(1.0 - loss[0.05] / linear > default_loss)


def test_noisy_inference_scatters_around_the_ideal_bit_line_currents() -> None:
    die = fresh_die()
    bits = np.random.default_rng(3).random(196) < 0.5
    ideal = die.ideal_infer_currents_A(0, bits, V_READ, V_GATE)
    measured = np.array([die.infer_currents_A(0, bits, V_READ, V_GATE) for _ in range(20)])
    np.testing.assert_allclose(measured.mean(axis=0), ideal, rtol=0.01)
    assert np.all(measured.std(axis=0) > 0)


# --- partial shorts and intermittent cells -------------------------------------------------------
def test_shorts_are_partial_a_pinhole_in_parallel_with_the_junction(wafer: VirtualWafer) -> None:
    r_p, tmr0 = [], []
    for die in wafer.dies():
        truth = die.truth(0)
        shorts = truth.defects == DefectCode.SHORT
        r_p.append(truth.r_p_ohm[shorts])
        tmr0.append(truth.tmr0[shorts])
    r_eff, tmr_eff = np.concatenate(r_p), np.concatenate(tmr0)
    assert r_eff.size > 100
    assert np.all(r_eff < PARAMS.r_p_median_ohm * 1.5)  # below the junction they shunt
    assert 200 < np.median(r_eff) < PARAMS.r_short_median_ohm  # pinhole || R_P
    assert np.all(tmr_eff > 0) and np.median(tmr_eff) < 0.2  # a little TMR is left


def test_intermittent_cells_are_a_small_fraction_of_working_cells(wafer: VirtualWafer) -> None:
    n_flaky = n_ok = 0
    for die in wafer.dies():
        for k in range(die.n_tiles):
            truth = die.truth(k)
            assert not truth.intermittent[truth.defects != DefectCode.OK].any()
            n_flaky += int(truth.intermittent.sum())
            n_ok += int((truth.defects == DefectCode.OK).sum())
    assert n_flaky / n_ok == pytest.approx(PARAMS.intermittent_fraction, rel=0.15)


def test_intermittent_reads_flip_at_their_rate_and_steady_cells_never_do() -> None:
    params = SimParams(intermittent_fraction=0.05, intermittent_flip_probability=0.2)
    die = VirtualWafer(0, params).die(3, 2)
    truth = die.truth(1)
    flaky = np.argwhere(truth.intermittent)
    steady = np.argwhere((truth.defects == DefectCode.OK) & ~truth.intermittent)[:20]
    assert len(flaky) >= 20
    tmr = tmr_at_bias(truth.tmr0, V_READ, PARAMS.tmr_v_half_V)
    midpoint_ohm = truth.r_p_ohm * (1.0 + tmr / 2) + truth.r_on_ohm  # between P and AP reads
    reads = 400
    for cells, low, high in ((flaky, 0.15, 0.25), (steady, 0.0, 0.0)):
        rows = np.repeat(cells[:, 0], reads)
        cols = np.repeat(cells[:, 1], reads)
        r = V_READ / die.read_current_A(1, rows, cols, V_READ, V_GATE, nplc=10)
        seen_ap = (r > midpoint_ohm[rows, cols]).reshape(len(cells), reads)
        stored_ap = truth.state_ap[cells[:, 0], cells[:, 1]]
        flip_rate = (seen_ap != stored_ap[:, None]).mean()
        assert low <= flip_rate <= high
    np.testing.assert_array_equal(die.truth(1).state_ap, truth.state_ap)  # reads store nothing

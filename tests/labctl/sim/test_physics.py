"""Device laws of one 1T-1MTJ cell, each checked on its own."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.sim.params import SimParams
from labctl.sim.physics import (
    binary_bit_line_currents_A,
    bit_line_currents_A,
    cell_current_A,
    mtj_resistance_ohm,
    noise_current_A,
    noise_sigma_A,
    on_resistance_ohm,
    shunted_junction,
    switching_probability,
    switching_time_s,
    tmr_at_bias,
)

PARAMS = SimParams()


def test_tmr_halves_at_v_half_and_is_symmetric_in_bias() -> None:
    v = np.array([0.0, 0.1, 0.25, 0.5, 1.0])
    tmr = tmr_at_bias(1.5, v, 0.5)
    assert tmr[0] == pytest.approx(1.5)
    assert tmr[3] == pytest.approx(0.75)
    assert np.all(np.diff(tmr) < 0)
    np.testing.assert_allclose(tmr_at_bias(1.5, -v, 0.5), tmr)


def test_mtj_resistance_p_is_bias_independent_ap_follows_tmr() -> None:
    r_p = np.array([3000.0, 3000.0])
    state_ap = np.array([False, True])
    at_low = mtj_resistance_ohm(r_p, 1.5, state_ap, 0.0, 0.5)
    at_high = mtj_resistance_ohm(r_p, 1.5, state_ap, 0.5, 0.5)
    np.testing.assert_allclose(at_low, [3000.0, 7500.0])
    np.testing.assert_allclose(at_high, [3000.0, 3000.0 * 1.75])


def test_on_resistance_nominal_at_nominal_gate_rises_towards_threshold_off_below() -> None:
    r_nom = np.array([1000.0])
    assert on_resistance_ohm(r_nom, 1.2, 0.45, 1.2)[0] == pytest.approx(1000.0)
    gates = [1.5, 1.2, 0.9, 0.6, 0.46]
    r = [on_resistance_ohm(r_nom, g, 0.45, 1.2)[0] for g in gates]
    assert np.all(np.diff(r) > 0)
    assert np.isinf(on_resistance_ohm(r_nom, 0.45, 0.45, 1.2)[0])
    assert np.isinf(on_resistance_ohm(r_nom, 0.0, 0.45, 1.2)[0])


def test_cell_current_is_ohmic_series_and_zero_when_off() -> None:
    current = cell_current_A(0.1, np.array([3000.0, 3000.0]), np.array([1000.0, np.inf]))
    np.testing.assert_allclose(current, [0.1 / 4000.0, 0.0])
    assert cell_current_A(-0.1, 3000.0, 1000.0) == pytest.approx(-0.1 / 4000.0)


def test_noise_sigma_relative_part_and_floor_scale_as_inverse_sqrt_nplc() -> None:
    sigma_1 = noise_sigma_A(np.array([25e-6, 0.0]), 1.0, PARAMS)
    sigma_10 = noise_sigma_A(np.array([25e-6, 0.0]), 10.0, PARAMS)
    assert sigma_1[0] / 25e-6 == pytest.approx(PARAMS.read_noise_rel_nplc1, rel=1e-3)
    assert sigma_1[1] == pytest.approx(PARAMS.noise_floor_A_nplc1)
    np.testing.assert_allclose(sigma_1 / sigma_10, np.sqrt(10.0))
    with pytest.raises(ValueError, match="nplc"):
        noise_sigma_A(1e-6, 0.0, PARAMS)


def test_open_circuit_noise_is_the_floor_and_seeded() -> None:
    readings = noise_current_A(20_000, 1.0, np.random.default_rng(5))
    assert abs(readings.mean()) < 5 * PARAMS.noise_floor_A_nplc1 / np.sqrt(20_000)
    assert readings.std() == pytest.approx(PARAMS.noise_floor_A_nplc1, rel=0.03)
    quieter = noise_current_A(20_000, 100.0, np.random.default_rng(5))
    assert quieter.std() == pytest.approx(readings.std() / 10.0, rel=1e-9)
    np.testing.assert_array_equal(readings, noise_current_A(20_000, 1.0, np.random.default_rng(5)))


def test_switching_time_is_continuous_at_vc_and_long_at_zero_bias() -> None:
    vc = 0.45
    below = switching_time_s(vc * (1 - 1e-9), vc, PARAMS)
    above = switching_time_s(vc * (1 + 1e-9), vc, PARAMS)
    assert below == pytest.approx(PARAMS.switching_tau0_s, rel=1e-6)
    assert above == pytest.approx(PARAMS.switching_tau0_s, rel=1e-6)
    # retention: at a read bias of 0.1 V a cell keeps its state for years
    assert switching_time_s(0.1, vc, PARAMS) > 3e8
    assert np.isinf(switching_time_s(0.0, vc, PARAMS))


def test_switching_probability_is_monotone_in_amplitude_and_width() -> None:
    amplitudes = np.linspace(0.2, 1.0, 33)
    p_amp = np.array([switching_probability(a, 50e-9, 0.45, PARAMS) for a in amplitudes])
    assert np.all(np.diff(p_amp) >= 0)
    assert p_amp[0] < 1e-6 and p_amp[-1] > 0.9999
    widths = np.geomspace(1e-9, 1e-6, 31)
    p_width = np.array([switching_probability(0.45, w, 0.46, PARAMS) for w in widths])
    assert np.all(np.diff(p_width) >= 0)
    unsaturated = p_width < 0.999
    assert np.all(np.diff(p_width[unsaturated]) > 0)
    assert p_width[0] < 0.1 and p_width[-1] > 0.999
    assert switching_probability(0.8, 0.0, 0.45, PARAMS) == 0.0


def test_nominal_write_switches_even_a_six_sigma_hard_device() -> None:
    sigma = np.hypot(PARAMS.vc_die_sigma_log, PARAMS.vc_device_sigma_log)
    vc_hard = PARAMS.vc_p2ap_median_V * np.exp(6 * sigma)
    failure = np.exp(-100e-9 / switching_time_s(0.8, vc_hard, PARAMS))
    assert failure < 1e-9


@pytest.mark.parametrize(("amplitude_V", "width_s"), [(0.8, 10e-9), (0.45, 10e-9)])
def test_under_driven_write_of_a_median_device_sometimes_fails(
    amplitude_V: float, width_s: float
) -> None:
    failure = 1 - switching_probability(amplitude_V, width_s, PARAMS.vc_p2ap_median_V, PARAMS)
    assert 1e-3 < failure < 0.5


def test_negative_width_is_refused() -> None:
    with pytest.raises(ValueError, match="width"):
        switching_probability(0.8, -1e-9, 0.45, PARAMS)


# --- partial shorts and bit lines ---------------------------------------------------------------
def test_pinhole_in_parallel_lowers_resistance_and_leaves_a_little_tmr() -> None:
    r_p_eff, tmr_eff = shunted_junction([3000.0, 3000.0], [1.5, 1.5], [500.0, np.inf])
    assert r_p_eff[0] == pytest.approx(500 * 3000 / 3500)
    r_ap_eff = 500 * 7500 / 8000
    assert tmr_eff[0] == pytest.approx(r_ap_eff / r_p_eff[0] - 1)
    assert 0 < tmr_eff[0] < 0.1
    assert r_p_eff[1] == pytest.approx(3000.0) and tmr_eff[1] == pytest.approx(1.5)


def _tile(rows: int = 60, cols: int = 4) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(5)
    r_p = 3000 * np.exp(0.04 * rng.standard_normal((rows, cols)))
    tmr0 = np.full((rows, cols), 1.5)
    state = rng.random((rows, cols)) < 0.5
    r_on = np.full((rows, cols), 1000.0)
    r_on[0, 0] = np.inf  # a transistor that is off
    bits = rng.random(rows) < 0.5
    return r_p, tmr0, state, r_on, np.where(bits, 0.1, 0.0)


@pytest.mark.parametrize("r_wire", [0.01, 0.5, 3.0])
def test_bit_line_nodes_satisfy_kirchhoff_with_each_cell_at_its_own_voltage(r_wire: float) -> None:
    r_p, tmr0, state, r_on, v_rows = _tile()
    summed, nodes = bit_line_currents_A(v_rows, r_p, tmr0, state, r_on, 0.5, r_wire, rel_tol=1e-12)
    v_cell = v_rows[:, None] - nodes
    r_mtj = mtj_resistance_ohm(r_p, tmr0, state, np.abs(v_cell), 0.5)
    currents = np.where(np.isfinite(r_on), v_cell / (r_mtj + r_on), 0.0)
    # node i sits r (i + 1) above the pad for current from beyond it: V_i = r sum_k<=i J_k
    segment = currents[::-1].cumsum(axis=0)[::-1]
    np.testing.assert_allclose(nodes, r_wire * segment.cumsum(axis=0), rtol=1e-8, atol=1e-15)
    np.testing.assert_allclose(summed, currents.sum(axis=0), rtol=1e-12)
    assert np.all(nodes[1:] >= nodes[:-1])  # the bit line rises away from the pad


def test_bit_line_without_wire_resistance_is_the_linear_sum() -> None:
    r_p, tmr0, state, r_on, v_rows = _tile()
    summed, nodes = bit_line_currents_A(v_rows, r_p, tmr0, state, r_on, 0.5, 0.0)
    assert not nodes.any()
    r_mtj = mtj_resistance_ohm(r_p, tmr0, state, np.abs(v_rows)[:, None], 0.5)
    linear = cell_current_A(0.1, r_mtj, r_on)[v_rows > 0].sum(axis=0)
    np.testing.assert_allclose(summed, linear, rtol=1e-12)


def test_a_cell_far_from_the_pad_loses_more_than_one_next_to_it() -> None:
    rows = 100
    r_p, tmr0, state = np.full((rows, 1), 3000.0), np.zeros((rows, 1)), np.zeros((rows, 1), bool)
    r_on = np.full((rows, 1), 1000.0)
    near = np.zeros(rows)
    near[0] = 0.1
    far = np.zeros(rows)
    far[-1] = 0.1
    i_near, _ = bit_line_currents_A(near, r_p, tmr0, state, r_on, 0.5, 1.0)
    i_far, _ = bit_line_currents_A(far, r_p, tmr0, state, r_on, 0.5, 1.0)
    assert i_far[0] < i_near[0] < 0.1 / 4000


@pytest.mark.parametrize(
    ("r_wire", "rtol"), [(0.0, 1e-12), (0.005, 1e-7), (0.05, 1e-5), (0.5, 1e-3)]
)
def test_batched_binary_solve_matches_the_iterative_solve(r_wire: float, rtol: float) -> None:
    r_p, tmr0, state, r_on, _ = _tile(rows=80, cols=6)
    bits = np.random.default_rng(2).random((5, 80)) < 0.4
    fast = binary_bit_line_currents_A(bits, 0.1, r_p, tmr0, state, r_on, 0.5, r_wire)
    for image, row_bits in enumerate(bits):
        exact, _ = bit_line_currents_A(np.where(row_bits, 0.1, 0.0), r_p, tmr0, state, r_on, 0.5,
                                       r_wire, rel_tol=1e-13)
        np.testing.assert_allclose(fast[image], exact, rtol=rtol)


def test_batched_solve_reads_flipped_cells_in_the_other_state_for_that_image_only() -> None:
    r_p, tmr0, state, r_on, _ = _tile(rows=40, cols=3)
    bits = np.ones((2, 40), dtype=bool)
    flipped = (np.array([1]), np.array([7]), np.array([2]))
    summed = binary_bit_line_currents_A(bits, 0.1, r_p, tmr0, state, r_on, 0.5, 0.01, flipped)
    other = state.copy()
    other[7, 2] = ~other[7, 2]
    plain, _ = bit_line_currents_A(np.full(40, 0.1), r_p, tmr0, state, r_on, 0.5, 0.01,
                                   rel_tol=1e-13)
    changed, _ = bit_line_currents_A(np.full(40, 0.1), r_p, tmr0, other, r_on, 0.5, 0.01,
                                     rel_tol=1e-13)
    np.testing.assert_allclose(summed[0], plain, rtol=1e-7)
    np.testing.assert_allclose(summed[1], changed, rtol=1e-7)
    assert summed[1, 2] != pytest.approx(summed[0, 2], rel=1e-4)
    np.testing.assert_allclose(summed[1, :2], summed[0, :2], rtol=1e-7)

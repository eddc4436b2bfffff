"""StationState: contact logic, scan plans, circuit conditions and writes, without servers."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.core.defects import DefectCode
from labctl.core.roles import Role
from labctl.core.wafer_map import WAFER_MAP
from labctl.sim.params import SimParams
from labctl.sim.state import DIE_PITCH_UM, StationState
from labctl.sim.wafer import VirtualWafer

V_READ = 0.1
V_GATE = 1.2


def make_state(**params: float) -> StationState:
    return StationState(VirtualWafer(5, SimParams(**params)))  # type: ignore[arg-type]


def at_die(state: StationState, col: int, row: int, height: str = "contact") -> None:
    state.prober.x_um, state.prober.y_um = col * DIE_PITCH_UM, row * DIE_PITCH_UM
    state.prober.height = height  # type: ignore[assignment]


def closed_circuit(state: StationState, col: int = 3, row: int = 2) -> None:
    at_die(state, col, row)
    state.controller.routed = True
    for role, volts in ((Role.READ_SMU, V_READ), (Role.GATE_SMU, V_GATE)):
        smu = state.smus[role]
        smu.source_voltage_V, smu.output_on, smu.current_limit_A = volts, True, 0.1


def test_starts_over_the_first_die_at_separation():
    state = make_state()
    assert state.die_position == WAFER_MAP[0]
    assert not state.in_contact
    assert state.contacted_die() is None


def test_contact_requires_contact_height_over_a_die_site():
    state = make_state()
    at_die(state, 3, 2, "align")
    assert not state.in_contact
    at_die(state, 3, 2, "contact")
    assert state.in_contact and state.contacted_die() is state.wafer.die(3, 2)
    state.prober.x_um += 0.5  # within the pad tolerance
    assert state.in_contact
    state.prober.x_um += 100.0
    assert state.die_position is None and not state.in_contact
    at_die(state, 0, 0)  # a map site without a die
    assert state.die_position is None


@pytest.mark.parametrize(
    "open_it",
    [
        lambda s: setattr(s.prober, "height", "separation"),
        lambda s: setattr(s.controller, "routed", False),
        lambda s: setattr(s.smus[Role.READ_SMU], "output_on", False),
        lambda s: setattr(s.smus[Role.READ_SMU], "source_function", "CURR"),
        lambda s: setattr(s.smus[Role.GATE_SMU], "output_on", False),
        lambda s: setattr(s.smus[Role.GATE_SMU], "source_voltage_V", 0.2),  # below threshold
    ],
)
def test_any_open_condition_gives_noise_level_current(open_it):
    state = make_state(defect_rate_good_median=1e-6, bad_die_probability=0.0)
    closed_circuit(state)
    assert np.all(state.measure_read_current_A(4) > 1e-6)
    open_it(state)
    assert np.all(np.abs(state.measure_read_current_A(4)) < 1e-10)


def test_cell_mode_reads_the_selected_cell_repeatedly():
    state = make_state()
    closed_circuit(state)
    state.controller.row, state.controller.col = 10, 20
    readings = state.measure_read_current_A(50)
    ideal = state.wafer.die(3, 2).ideal_current_A(0, [10], [20], V_READ, V_GATE)[0]
    assert readings.mean() == pytest.approx(ideal, rel=0.01)
    assert readings.std() > 0  # read noise


def test_row_and_tile_scans_address_cells_in_order_and_wrap():
    state = make_state()
    closed_circuit(state)
    die = state.wafer.die(3, 2)
    state.controller.tile, state.controller.row = 1, 4
    state.controller.scan_mode = "ROW"
    state.controller.scan_index = 7
    readings = state.measure_read_current_A(6)  # columns 7, 8, 9, 0, 1, 2
    cols = [7, 8, 9, 0, 1, 2]
    ideal = die.ideal_current_A(1, [4] * 6, cols, V_READ, V_GATE)
    np.testing.assert_allclose(readings, ideal, rtol=0.03, atol=1e-10)
    assert state.controller.scan_index == 3

    state.controller.scan_mode, state.controller.scan_index = "TILE", 995
    readings = state.measure_read_current_A(8)  # cells 995 ... 999, 0, 1, 2 of 100 x 10
    index = np.array([995, 996, 997, 998, 999, 0, 1, 2])
    ideal = die.ideal_current_A(1, index // 10, index % 10, V_READ, V_GATE)
    np.testing.assert_allclose(readings, ideal, rtol=0.03, atol=1e-10)


def test_scan_advances_even_with_the_circuit_open():
    state = make_state()
    state.controller.scan_mode = "ROW"
    state.measure_read_current_A(30)
    assert state.controller.scan_index == 30
    with pytest.raises(ValueError):
        state.measure_read_current_A(0)


def test_defect_types_read_as_they_should():
    state = make_state(bad_die_probability=1.0, defect_rate_bad_median=0.08)
    closed_circuit(state)
    state.controller.pulse_amplitude_V, state.controller.pulse_width_s = 1.5, 1e-6
    assert state.write_selected_tile(False)  # everything writable to P
    state.controller.tile, state.controller.scan_mode = 0, "TILE"
    rows, cols = state.tile_shape()
    current = state.measure_read_current_A(rows * cols).reshape(rows, cols)
    resistance = V_READ / np.maximum(np.abs(current), 1e-15)
    truth = state.wafer.die(3, 2).truth(0)
    by_code = {code: resistance[truth.defects == code] for code in DefectCode}
    assert all(values.size for values in by_code.values())
    r_p_ok = np.median(by_code[DefectCode.OK])
    assert np.all(by_code[DefectCode.OPEN] > 1e8)
    assert np.all(by_code[DefectCode.SHORT] < 0.8 * r_p_ok)  # partial shorts: pinhole || MTJ
    assert np.all(np.abs(by_code[DefectCode.STUCK_P] / r_p_ok - 1) < 0.5)
    assert np.all(by_code[DefectCode.STUCK_AP] > 1.5 * r_p_ok)


def test_writes_reach_the_die_only_in_contact():
    state = make_state()
    at_die(state, 3, 2, "separation")
    state.controller.pulse_amplitude_V, state.controller.pulse_width_s = 1.5, 1e-6
    before = state.wafer.die(3, 2).truth(0).state_ap
    assert not state.write_selected_tile(True)
    np.testing.assert_array_equal(state.wafer.die(3, 2).truth(0).state_ap, before)
    state.prober.height = "contact"
    assert state.write_selected_row(np.ones(100, dtype=bool))
    truth = state.wafer.die(3, 2).truth(0)
    ok = truth.defects[0] == DefectCode.OK
    assert truth.state_ap[0][ok].all()


def test_gate_current_is_leakage_in_contact_and_noise_otherwise():
    healthy = make_state(gross_short_probability=0.0)
    closed_circuit(healthy)
    leakage = healthy.measure_gate_current_A(3)
    assert np.all((leakage > 0.1e-9) & (leakage < 1e-7))
    shorted = make_state(gross_short_probability=1.0)
    closed_circuit(shorted)
    assert np.all(shorted.measure_gate_current_A(3) > 1e-4)
    shorted.prober.height = "separation"
    assert np.all(np.abs(shorted.measure_gate_current_A(3)) < 1e-10)

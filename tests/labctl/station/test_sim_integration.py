"""Acceptance: the simulated station over TCP matches the physics model's ground truth.

Part 1 drives it with PyMeasure's own, unmodified ``Velox`` and ``Keithley2450`` plus labctl's
``ArrayController``; part 2 goes through ``Station`` and the batched ``array_ops``. Expected
resistances are computed here from the model's ground truth (``DieModel.truth``), and compared
within the model's read noise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pymeasure.instruments.formfactor.velox import Velox
from pymeasure.instruments.keithley.keithley2450 import Keithley2450

from drivers.array_controller import ArrayController
from labctl.core.defects import DefectCode
from labctl.core.errors import SafetyError
from labctl.core.geometry import READ_CAP_OHM
from labctl.sim.embedded import SimStationServer, start_sim_station
from labctl.sim.wafer import DieModel, TileTruth
from labctl.station import array_ops
from labctl.station.config import sim_station_config
from labctl.station.station import Station
from labctl.station.transport import disable_nagle

SEED = 0
READ_V = 0.1
GATE_V = 1.2  # the model's nominal gate voltage: r_on is truth.r_on_ohm
LIMIT_A = 1e-3
TERMINATIONS = {"read_termination": "\n", "write_termination": "\n"}


def expected_resistance_ohm(truth: TileTruth, v_read_V: float, v_half_V: float) -> np.ndarray:
    """R_P (1 + TMR(V)) in AP, R_P in P, plus the transistor: TMR(V) = TMR0 / (1 + (V/Vh)^2)."""
    tmr = truth.tmr0 / (1.0 + (v_read_V / v_half_V) ** 2)
    return truth.r_p_ohm * (1.0 + tmr * truth.state_ap) + truth.r_on_ohm


def relative_noise(sim: SimStationServer, nplc: float) -> float:
    """1-sigma relative read noise of a healthy cell at this NPLC."""
    return float(sim.wafer.params.read_noise_rel_nplc1 / np.sqrt(nplc))


def pick_die(sim: SimStationServer) -> DieModel:
    """The first die without a gate short whose tile 0 has every defect type."""
    for die in sim.wafer.dies():
        codes = set(np.unique(die.truth(0).defects).tolist())
        if not die.gross_short and codes >= {int(code) for code in DefectCode}:
            return die
    raise AssertionError("no die with every defect type")


def first_cell(truth: TileTruth, code: DefectCode) -> tuple[int, int]:
    """The first cell with this code whose reads are steady (not an intermittent cell)."""
    rows, cols = np.nonzero((truth.defects == code) & ~truth.intermittent)
    return int(rows[0]), int(cols[0])


@pytest.fixture
def sim() -> Iterator[SimStationServer]:
    with start_sim_station(seed=SEED) as server:
        yield server


# --- part 1: PyMeasure's own drivers ------------------------------------------------------------


class Bench:
    """PyMeasure's unmodified Velox and Keithley2450 plus labctl's ArrayController."""

    def __init__(self, resources: dict[str, str]) -> None:
        self.prober = Velox(resources["prober"], visa_library="@py", timeout=5000, **TERMINATIONS)
        self.read = Keithley2450(resources["read_smu"], visa_library="@py", timeout=5000,
                                 **TERMINATIONS)
        self.gate = Keithley2450(resources["gate_smu"], visa_library="@py", timeout=5000,
                                 **TERMINATIONS)
        self.controller = ArrayController(resources["controller"], visa_library="@py",
                                          timeout=5000)
        for inst in (self.prober, self.read, self.gate, self.controller):
            disable_nagle(inst.adapter.connection)  # a socket option, not a driver change

    def bias(self, nplc: float) -> None:
        for smu, level_V in ((self.gate, GATE_V), (self.read, READ_V)):
            smu.apply_voltage(compliance_current=LIMIT_A)
            smu.measure_current(nplc=nplc)
            smu.source_voltage = level_V
            smu.enable_source()

    def read_cell_ohm(self, tile: int, row: int, col: int) -> float:
        self.controller.tile = tile
        self.controller.row = row
        self.controller.column = col
        self.controller.scan_mode = "CELL"
        self.controller.routed = True
        assert self.controller.complete == "1"  # barrier: routed before the SMU reads
        return READ_V / abs(float(self.read.current))

    def write_cell(self, target: str, amplitude_V: float = 0.8, width_s: float = 50e-9) -> None:
        self.controller.pulse_amplitude = amplitude_V
        self.controller.pulse_width = width_s
        self.controller.write_cell(target)
        assert self.controller.check_errors() == []

    def close(self) -> None:
        for inst in (self.prober, self.read, self.gate, self.controller):
            inst.adapter.close()


@pytest.fixture
def bench(sim: SimStationServer) -> Iterator[Bench]:
    bench = Bench(sim.resources)
    yield bench
    bench.close()


def test_pymeasure_drivers_read_a_cell_at_its_ground_truth(
    sim: SimStationServer, bench: Bench
) -> None:
    die = pick_die(sim)
    bench.prober.wafermap.step_to_die(die.col, die.row)
    bench.prober.chuck.move_contact()
    bench.bias(nplc=1.0)
    truth = die.truth(0)
    ok_rows, ok_cols = np.nonzero((truth.defects == DefectCode.OK) & ~truth.intermittent)
    expected = expected_resistance_ohm(truth, READ_V, sim.wafer.params.tmr_v_half_V)
    sigma = relative_noise(sim, 1.0)
    for row, col in list(zip(ok_rows, ok_cols, strict=True))[:5]:
        measured = bench.read_cell_ohm(0, int(row), int(col))
        assert measured == pytest.approx(expected[row, col], rel=5 * sigma)
    assert bench.read.check_errors() == []


def test_writing_p_then_ap_changes_the_reading_by_the_devices_tmr(
    sim: SimStationServer, bench: Bench
) -> None:
    die = pick_die(sim)
    bench.prober.wafermap.step_to_die(die.col, die.row)
    bench.prober.chuck.move_contact()
    bench.bias(nplc=1.0)
    row, col = first_cell(die.truth(0), DefectCode.OK)
    bench.controller.tile, bench.controller.row, bench.controller.column = 0, row, col
    bench.write_cell("P")
    assert not die.truth(0).state_ap[row, col]
    r_p_read = bench.read_cell_ohm(0, row, col)
    bench.write_cell("AP")
    assert die.truth(0).state_ap[row, col]
    r_ap_read = bench.read_cell_ohm(0, row, col)
    truth = die.truth(0)
    tmr_at_read = truth.tmr0[row, col] / (1 + (READ_V / sim.wafer.params.tmr_v_half_V) ** 2)
    sigma_ohm = relative_noise(sim, 1.0) * r_ap_read
    assert r_ap_read - r_p_read == pytest.approx(
        truth.r_p_ohm[row, col] * tmr_at_read, abs=6 * sigma_ohm
    )


def test_each_defect_type_reads_as_it_should(sim: SimStationServer, bench: Bench) -> None:
    die = pick_die(sim)
    bench.prober.wafermap.step_to_die(die.col, die.row)
    bench.prober.chuck.move_contact()
    bench.bias(nplc=1.0)
    truth = die.truth(0)
    ok = truth.defects == DefectCode.OK
    healthy_p_ohm = float(np.median(truth.r_p_ohm[ok] + truth.r_on_ohm[ok]))
    expected = expected_resistance_ohm(truth, READ_V, sim.wafer.params.tmr_v_half_V)

    row, col = first_cell(truth, DefectCode.SHORT)
    short_ohm = bench.read_cell_ohm(0, row, col)
    assert short_ohm < 0.8 * healthy_p_ohm  # a pinhole in parallel with the junction
    assert short_ohm == pytest.approx(expected[row, col], rel=0.02)

    row, col = first_cell(truth, DefectCode.OPEN)
    assert bench.read_cell_ohm(0, row, col) > 1e8

    for code, pushed_towards, stuck_ap in (
        (DefectCode.STUCK_P, "AP", False),
        (DefectCode.STUCK_AP, "P", True),
    ):
        row, col = first_cell(truth, code)
        bench.controller.row, bench.controller.column = row, col
        bench.write_cell(pushed_towards)
        assert bool(die.truth(0).state_ap[row, col]) is stuck_ap
        expected = expected_resistance_ohm(die.truth(0), READ_V, sim.wafer.params.tmr_v_half_V)
        assert bench.read_cell_ohm(0, row, col) == pytest.approx(expected[row, col], rel=0.02)


def test_a_separated_chuck_reads_open(sim: SimStationServer, bench: Bench) -> None:
    die = pick_die(sim)
    bench.prober.wafermap.step_to_die(die.col, die.row)
    bench.prober.chuck.move_contact()
    bench.bias(nplc=1.0)
    row, col = first_cell(die.truth(0), DefectCode.OK)
    assert bench.read_cell_ohm(0, row, col) < 2e4
    bench.prober.chuck.move_separation()
    assert abs(float(bench.read.current)) < 1e-9  # noise level: nothing connected
    assert bench.read_cell_ohm(0, row, col) > 1e8


# --- part 2: Station and batched array_ops -----------------------------------------------------


@pytest.fixture
def station(sim: SimStationServer) -> Iterator[Station]:
    with Station.connect(sim_station_config(sim.resources)) as station:
        yield station


def _contact(station: Station, die: DieModel) -> None:
    assert station.prober.step_to_die(die.col, die.row)[:2] == (die.col, die.row)
    station.prober.chuck.move_contact()
    assert station.prober.in_contact


def test_batched_tile_read_matches_ground_truth(sim: SimStationServer, station: Station) -> None:
    die = pick_die(sim)
    _contact(station, die)
    measured = array_ops.read_tile_resistance_ohm(station, 0, nplc=1.0)
    truth = die.truth(0)
    assert measured.shape == truth.r_p_ohm.shape == (196, 100)
    expected = expected_resistance_ohm(truth, READ_V, sim.wafer.params.tmr_v_half_V)
    ok = (truth.defects == DefectCode.OK) & ~truth.intermittent
    z = (measured[ok] / expected[ok] - 1.0) / relative_noise(sim, 1.0)
    assert np.abs(z).max() < 6.0
    assert 0.9 < z.std() < 1.1  # the spread is the model's read noise, nothing else
    assert (measured[truth.defects == DefectCode.OPEN] > 1e8).all()
    assert (measured[truth.defects == DefectCode.SHORT] < 0.8 * np.median(expected[ok])).all()


def test_batched_writes_and_row_read(sim: SimStationServer, station: Station) -> None:
    die = pick_die(sim)
    _contact(station, die)
    array_ops.write_tile(station, 0, "P")
    truth = die.truth(0)
    writable = truth.defects == DefectCode.OK
    assert not truth.state_ap[writable].any()
    steady = writable & ~truth.intermittent
    row = int(np.nonzero(steady.all(axis=1))[0][0])  # a row of healthy, steady cells
    bits = np.arange(100) % 3 == 0
    array_ops.write_row(station, 0, row, bits)
    np.testing.assert_array_equal(die.truth(0).state_ap[row], bits)
    measured = array_ops.read_row_resistance_ohm(station, 0, row, nplc=1.0)
    expected = expected_resistance_ohm(die.truth(0), READ_V, sim.wafer.params.tmr_v_half_V)[row]
    np.testing.assert_allclose(measured, expected, rtol=6 * relative_noise(sim, 1.0))
    assert measured[bits].min() > measured[~bits].max()  # AP reads above P on this row

    array_ops.write_cell(station, 0, row, 1, "AP")
    assert die.truth(0).state_ap[row, 1]
    cell = array_ops.read_cell_resistance_ohm(station, 0, row, 1, nplc=1.0)
    expected_cell = expected_resistance_ohm(die.truth(0), READ_V, sim.wafer.params.tmr_v_half_V)
    assert cell == pytest.approx(expected_cell[row, 1], rel=6 * relative_noise(sim, 1.0))


def test_inference_currents_match_the_model(sim: SimStationServer, station: Station) -> None:
    die = pick_die(sim)
    _contact(station, die)
    bits = np.zeros(196, dtype=bool)
    bits[::4] = True
    currents = array_ops.infer_bitline_currents_A(station, 0, bits, nplc=1.0)
    truth = die.truth(0)
    # The model's bit lines (IR drop included); columns with a driven intermittent cell may
    # read it flipped, so only the others are held to the noise.
    expected_A = die.ideal_infer_currents_A(0, bits, READ_V, GATE_V)
    steady = ~truth.intermittent[bits].any(axis=0)
    assert steady.sum() > 80
    np.testing.assert_allclose(
        currents[steady], expected_A[steady], rtol=6 * relative_noise(sim, 1.0)
    )
    r_cell = expected_resistance_ohm(truth, READ_V, sim.wafer.params.tmr_v_half_V)
    linear_A = (READ_V / r_cell[bits]).sum(axis=0)  # the emulation's linear sum
    assert np.all(expected_A < linear_A) and np.all(expected_A > 0.95 * linear_A)


def test_separated_chuck_reads_capped_open_and_safe_state(
    sim: SimStationServer, station: Station
) -> None:
    die = pick_die(sim)
    _contact(station, die)
    station.prober.chuck.move_separation()
    measured = array_ops.read_row_resistance_ohm(station, 0, 0)
    assert (measured > 1e9).all() and np.isfinite(measured).all()
    assert measured.max() <= READ_CAP_OHM
    station.safe_state()
    station.safe_state()  # idempotent
    smus: list[Any] = [sim.state.smus["read_smu"], sim.state.smus["gate_smu"]]
    assert all(not smu.output_on and smu.source_voltage_V == 0.0 for smu in smus)
    assert not sim.state.controller.routed and sim.state.prober.height == "separation"


def test_station_refuses_writes_above_its_limit(sim: SimStationServer, station: Station) -> None:
    die = pick_die(sim)
    _contact(station, die)
    before = die.truth(0).state_ap
    with pytest.raises(SafetyError):
        array_ops.write_tile(station, 0, "AP", amplitude_V=station.limits.max_write_voltage_V + 0.1)
    np.testing.assert_array_equal(die.truth(0).state_ap, before)
    assert sim.state.controller.pulse_amplitude_V <= station.limits.max_write_voltage_V

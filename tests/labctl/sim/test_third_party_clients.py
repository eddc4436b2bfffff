"""Unmodified third-party client drivers run their documented flows against the emulators.

The emulators and labctl's drivers were written together; these clients were not: PyMeasure's
``Keithley2450`` and ``Velox`` and QCoDeS' ``Keithley2450`` were written from the instruments'
manuals by others. Each flow runs against ``start_sim_station`` and, marked ``bench``, against
the instruments of a real station file (``pytest -m bench --station FILE``; skipped without
one). The drivers talk straight to the instrument sockets: labctl's interlocks are not in the
path, so the bench flows keep to the station file's read voltage and compliance current.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymeasure.instruments.formfactor.velox import Velox
from pymeasure.instruments.keithley.keithley2450 import Keithley2450 as PyMeasureKeithley2450
from qcodes.instrument_drivers.Keithley import Keithley2450 as QcodesKeithley2450

from labctl.core.defects import DefectCode
from labctl.sim.embedded import SimStationServer, start_sim_station
from labctl.sim.params import SimParams
from labctl.station.config import load_station_config

SIM_READ_V = 0.1
SIM_LIMIT_A = 1e-3
GATE_V = 1.2
_names = itertools.count()


@dataclass
class Bench:
    """Where the instruments are: resources by role, the VISA library, operating points."""

    resources: dict[str, str]
    visa_library: str
    read_voltage_V: float
    compliance_current_A: float
    timeouts_ms: dict[str, int]
    sim: SimStationServer | None = None  # None on a real station

    def pymeasure_kwargs(self, role: str) -> dict[str, Any]:
        """Connection settings; raw sockets need the line terminations VISA does not add."""
        kwargs: dict[str, Any] = {
            "visa_library": self.visa_library,
            "timeout": self.timeouts_ms[role],
        }
        if self.resources[role].upper().endswith("::SOCKET"):
            kwargs.update(read_termination="\n", write_termination="\n")
        return kwargs


@pytest.fixture(params=["sim", pytest.param("bench", marks=pytest.mark.bench)])
def bench(request: pytest.FixtureRequest) -> Iterator[Bench]:
    if request.param == "bench":
        station_file: Path = request.getfixturevalue("bench_station_file")
        config = load_station_config(station_file)
        yield Bench(
            resources={str(role): inst.resource for role, inst in config.instruments.items()},
            visa_library=config.visa_library,
            read_voltage_V=config.limits.read_voltage_V,
            compliance_current_A=config.limits.compliance_current_A,
            timeouts_ms={
                str(role): int(inst.timeout_s * 1000) for role, inst in config.instruments.items()
            },
        )
        return
    with start_sim_station(seed=3, params=SimParams(gross_short_probability=0.0)) as sim:
        yield Bench(
            resources={str(role): resource for role, resource in sim.resources.items()},
            visa_library="@py",
            read_voltage_V=SIM_READ_V,
            compliance_current_A=SIM_LIMIT_A,
            timeouts_ms=dict.fromkeys(("prober", "read_smu", "gate_smu", "controller"), 5000),
            sim=sim,
        )


def connect_a_healthy_cell(sim: SimStationServer) -> None:
    """Simulator only: probes down on the first die, a healthy cell routed, gate biased, so the
    read SMU sees a real device (set on the shared state: routing is not these clients' job)."""
    state = sim.state
    die = next(sim.wafer.dies())
    truth = die.truth(0)
    rows, cols = np.nonzero(truth.defects == DefectCode.OK)
    state.prober.height = "contact"
    controller = state.controller
    controller.tile, controller.row, controller.col = 0, int(rows[0]), int(cols[0])
    controller.scan_mode = "CELL"
    controller.routed = True
    gate = state.smus["gate_smu"]
    gate.source_voltage_V, gate.output_on = GATE_V, True
    assert state.contacted_die() is die


# --- PyMeasure Keithley2450 -----------------------------------------------------------------------


def test_pymeasure_keithley2450_documented_flow(bench: Bench) -> None:
    """Reset, source and measure settings, output on, a reading, the KeithleyBuffer flow
    (config_buffer, start_buffer, wait_for_buffer, buffer_data), shutdown."""
    if bench.sim is not None:
        connect_a_healthy_cell(bench.sim)
    smu = PyMeasureKeithley2450(bench.resources["read_smu"], **bench.pymeasure_kwargs("read_smu"))
    try:
        assert "MODEL 2450" in smu.id
        smu.reset()
        smu.apply_voltage(compliance_current=bench.compliance_current_A)  # checks errors
        smu.measure_current(nplc=0.1)  # checks errors
        smu.source_voltage = bench.read_voltage_V
        assert smu.source_voltage == pytest.approx(bench.read_voltage_V)
        assert smu.compliance_current == pytest.approx(bench.compliance_current_A)
        assert smu.current_nplc == pytest.approx(0.1)
        smu.enable_source()
        assert smu.source_enabled
        single_A = float(smu.current)
        assert abs(single_A) <= bench.compliance_current_A

        points = 25
        smu.config_buffer(points)  # *SRE 1, :STAT:MEAS:ENAB 512 (buffer full), :TRAC:POIN
        # PyMeasure's 2450 class stores the trigger count it cannot send; the 2450's own
        # command for "take `points` readings at :INIT" is a SimpleLoop trigger model.
        smu.write(f':TRIG:LOAD "SimpleLoop", {points}')
        smu.start_buffer()
        smu.wait_for_buffer(timeout=10, interval=0.01)
        assert smu.is_buffer_full()
        data_A = smu.buffer_data
        assert data_A.shape == (points,)
        assert np.all(np.abs(data_A) <= bench.compliance_current_A)
        assert float(smu.means) == pytest.approx(float(np.mean(data_A)), rel=1e-5)
        assert smu.check_errors() == []

        smu.shutdown()  # ramps to 0 V, aborts the buffer, output off
        assert not smu.source_enabled
        assert smu.source_voltage == pytest.approx(0.0, abs=1e-9)
    finally:
        smu.adapter.close()

    if bench.sim is not None:  # the readings are the routed cell's current, not noise
        assert single_A > 1e-6
        assert np.std(data_A) < 0.05 * np.mean(data_A)
        assert not bench.sim.state.smus["read_smu"].output_on


# --- PyMeasure Velox ------------------------------------------------------------------------------


def test_pymeasure_velox_documented_flow(bench: Bench) -> None:
    """Identify, the WaferMap module, step dies, chuck heights and moves, positions."""
    prober = Velox(bench.resources["prober"], **bench.pymeasure_kwargs("prober"))
    try:
        assert "Velox" in prober.id
        assert prober.version
        assert prober.wafermap.enabled is True
        col, row, subdie, subdies = prober.wafermap.step_first_die()
        assert (subdie, subdies) == (0, 1)
        assert prober.ask("ReadMapPosition").split()[:2] == [str(col), str(row)]

        prober.chuck.move_align()
        assert prober.ask("ReadChuckStatus").split()[6] == "A"
        prober.chuck.move_separation()
        assert prober.ask("ReadChuckStatus").split()[6] == "S"
        heights = prober.ask("ReadChuckHeights Y").split()
        contact, _, align_gap, separation_gap, _ = map(float, heights)
        assert separation_gap > align_gap > 0
        x_um, y_um, z_um = map(float, prober.ask("ReadChuckPosition Y H").split())
        assert z_um == pytest.approx(contact - separation_gap)

        index_um = prober.chuck.index
        assert len(index_um) == 2 and min(index_um) > 0
        prober.chuck.index = tuple(index_um)  # SetChuckIndex, errors checked by the driver

        second = prober.wafermap.step_next_die()
        assert second[:2] != [col, row]
        prober.wafermap.step_to_die(col, row)
        assert prober.ask("ReadMapPosition").split()[:2] == [str(col), str(row)]
        prober.chuck.move(0, 0, pos_ref="relative")
        assert list(map(float, prober.ask("ReadChuckPosition Y H").split()))[:2] == pytest.approx(
            [x_um, y_um]
        )
        prober.chuck.move_separation()
    finally:
        prober.adapter.close()


def test_pymeasure_velox_steps_to_the_end_of_the_wafer_map(bench: Bench) -> None:
    if bench.sim is None:
        pytest.skip("stepping a whole real wafer is a sweep, not a protocol check")
    prober = Velox(bench.resources["prober"], **bench.pymeasure_kwargs("prober"))
    try:
        visited = [tuple(prober.wafermap.step_first_die()[:2])]
        while True:
            coordinates = prober.wafermap.step_next_die()
            if prober.wafermap.end_reached:
                break
            visited.append(tuple(coordinates[:2]))
        assert prober.error_code == 703
    finally:
        prober.adapter.close()
    assert len(visited) == len(set(visited)) == len(list(bench.sim.wafer.dies()))


# --- QCoDeS Keithley2450 --------------------------------------------------------------------------


def test_qcodes_keithley2450_documented_flow(bench: Bench) -> None:
    """Connect (asks *LANG?), source voltage, measure current, a linear sweep into the buffer
    with its elements, output off, close."""
    if bench.sim is not None:
        connect_a_healthy_cell(bench.sim)
    smu = QcodesKeithley2450(
        f"smu{next(_names)}",
        bench.resources["read_smu"],
        visalib=bench.visa_library,
        timeout=bench.timeouts_ms["read_smu"] / 1000,
    )
    try:
        assert smu.get_idn()["model"] in ("2450", "MODEL 2450")
        assert smu._has_correct_language_mode()  # the driver builds its parameters only then
        smu.reset()
        smu.terminals("front")
        smu.source_function("voltage")
        smu.sense_function("current")
        smu.source.limit(bench.compliance_current_A)
        smu.source.voltage(bench.read_voltage_V)
        smu.sense.nplc(0.1)
        smu.sense.auto_range(True)
        assert smu.source.read_back_enabled() is True
        smu.output_enabled(True)
        current_A = smu.sense.current()
        assert abs(current_A) <= bench.compliance_current_A
        assert smu.source.limit_tripped() is False

        n = 6
        smu.source.sweep_setup(0.0, bench.read_voltage_V, n)
        buffer = smu.buffer("defbuffer1")
        buffer.elements(["measurement", "source_value", "relative_time"])
        sweep_A = smu.sense.sweep()
        axis_V = smu.source.sweep_axis()
        assert sweep_A.shape == axis_V.shape == (n,)
        selected = smu.sense.sweep.get_selected()
        assert selected is not None and len(selected) == 3 * n
        np.testing.assert_allclose([float(v) for v in selected[1::3]], axis_V, atol=1e-9)
        assert np.all(np.diff([float(t) for t in selected[2::3]]) > 0)
        assert buffer.number_of_readings() == 0  # the driver clears the buffer after a sweep

        smu.output_enabled(False)
        assert smu.ask(":SYST:ERR:COUN?") == "0"
    finally:
        smu.close()

    if bench.sim is not None:  # an ohmic cell: the current rises with the swept voltage
        assert current_A > 1e-6
        assert np.all(np.diff(sweep_A) > 0)
        assert abs(sweep_A[0]) < 0.05 * sweep_A[-1]

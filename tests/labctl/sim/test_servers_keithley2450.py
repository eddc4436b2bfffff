"""The emulated Keithley 2450s: SCPI subset, physics-backed readings, buffers, errors."""

# ruff: noqa: F811  (pytest fixtures imported from sim_fixtures are parameters)

from __future__ import annotations

import numpy as np
import pytest
from pymeasure.instruments.keithley import Keithley2450
from sim_fixtures import RawClient, pymeasure_open, raw, station  # noqa: F401

from labctl.core.wafer_map import WAFER_MAP
from labctl.sim.embedded import start_sim_station
from labctl.sim.params import SimParams

DIE = (3, 1)
V_READ = 0.1
V_GATE = 1.2


def contact_and_route(raw, row=2, col=5):
    """Prober on DIE at contact, controller routed to (row, col) of tile 0."""
    assert raw["prober"].query(f"StepNextDie {DIE[0]} {DIE[1]}").startswith("0:")
    raw["prober"].query("MoveChuckContact")
    raw["controller"].command(f"TILE 0;ROW {row};COL {col};ROUT ON")


def source(raw, role, volts, limit_A=1e-3, output="ON"):
    raw[role].command(
        f":SOUR:FUNC VOLT;:SOUR:VOLT:ILIM {limit_A:g};:SENS:FUNC 'CURR';"
        f":SENS:CURR:NPLC 1.000000;:SOUR:VOLT:LEV {volts:g};:OUTP {output}"
    )


def expected_current_A(station, row, col):
    die = station.wafer.die(*DIE)
    return float(die.ideal_current_A(0, [row], [col], V_READ, V_GATE)[0])


def read(raw, role="read_smu"):
    return float(raw[role].query(":READ?"))


def test_identification_and_defaults(raw):
    smu = raw["read_smu"]
    assert smu.query("*IDN?").startswith("KEITHLEY INSTRUMENTS,MODEL 2450,")
    assert smu.query(":SOUR:FUNC?;:OUTP?;:SOUR:VOLT:ILIM?") == "VOLT;0;1.050000E-04"
    assert smu.query(":SENS:FUNC?") == '"CURR:DC"'
    assert smu.query("SYST:ERR?") == '0,"No error"'


def test_reading_needs_contact_routing_and_both_outputs(raw, station):
    row, col = 2, 5
    contact_and_route(raw, row, col)
    source(raw, "read_smu", V_READ)
    source(raw, "gate_smu", V_GATE)
    expected = expected_current_A(station, row, col)
    assert expected > 1e-6
    assert read(raw) == pytest.approx(expected, rel=0.02)

    for break_circuit, restore in [
        ((raw["prober"], "MoveChuckSeparation"), (raw["prober"], "MoveChuckContact")),
        ((raw["controller"], "ROUT OFF"), (raw["controller"], "ROUT ON")),
        ((raw["read_smu"], ":OUTP OFF"), (raw["read_smu"], ":OUTP ON")),
        ((raw["gate_smu"], ":OUTP OFF"), (raw["gate_smu"], ":OUTP ON")),
        ((raw["gate_smu"], ":SOUR:VOLT 0.3"), (raw["gate_smu"], f":SOUR:VOLT {V_GATE}")),
    ]:
        client, command = break_circuit
        _send(client, command)
        assert abs(read(raw)) < 1e-9, command  # noise level
        client, command = restore
        _send(client, command)
        assert read(raw) == pytest.approx(expected, rel=0.02), command


def _send(client, command):
    """Velox commands always reply; SCPI commands are synchronised with *OPC?."""
    if command.startswith("Move"):
        client.query(command)
    else:
        client.command(command)


def test_pymeasure_keithley2450_measures_a_cell(station, pymeasure_open, raw):
    contact_and_route(raw, 0, 0)
    read_smu = pymeasure_open(Keithley2450, station.resources["read_smu"])
    gate_smu = pymeasure_open(Keithley2450, station.resources["gate_smu"])
    for smu, volts in ((read_smu, V_READ), (gate_smu, V_GATE)):
        smu.reset()  # "*RST;:stat:pres;:*CLS;"
        smu.apply_voltage(compliance_current=1e-3)  # checks the error queue
        smu.measure_current(nplc=1)  # ":SENS:FUNC 'CURR';:SENS:CURR:NPLC 1.000000;"
        smu.source_voltage = volts
        smu.enable_source()
        assert smu.complete == "1"  # *OPC?: settings applied before the other SMU reads
    assert read_smu.source_enabled is True
    assert read_smu.compliance_current == pytest.approx(1e-3)
    assert read_smu.current_nplc == pytest.approx(1.0)
    assert read_smu.current == pytest.approx(expected_current_A(station, 0, 0), rel=0.02)
    assert abs(gate_smu.current) < 1e-7  # healthy die: gate leakage ~nA
    assert read_smu.check_errors() == []
    read_smu.stop_buffer()  # :ABOR
    read_smu.disable_source()  # OUTPUT OFF
    assert read_smu.source_enabled is False


def test_current_limit_clamps_and_sets_trip_flag(raw, station):
    contact_and_route(raw)
    source(raw, "gate_smu", V_GATE)
    source(raw, "read_smu", V_READ, limit_A=1e-6)
    assert read(raw) == pytest.approx(1e-6)
    assert raw["read_smu"].query(":SOUR:VOLT:ILIM:TRIP?") == "1"
    raw["read_smu"].command(":SOUR:VOLT:ILIM 1e-3")
    assert read(raw) < 1e-3
    assert raw["read_smu"].query(":SOUR:VOLT:ILIM:TRIP?") == "0"


def test_gross_short_shows_in_gate_current():
    with start_sim_station(seed=3, params=SimParams(gross_short_probability=1.0)) as station:
        clients = {role: RawClient(res) for role, res in station.resources.items()}
        try:
            contact_and_route(clients)
            source(clients, "gate_smu", V_GATE, limit_A=0.1)
            gate_A = read(clients, "gate_smu")
            assert gate_A == pytest.approx(V_GATE / station.wafer.params.r_gate_short_ohm, rel=0.01)
            assert gate_A > 1e-4  # mA range
            clients["prober"].query("MoveChuckSeparation")
            assert abs(read(clients, "gate_smu")) < 1e-9
        finally:
            for client in clients.values():
                client.close()


def test_buffered_row_read_equals_per_cell_reads(raw, station):
    row = 7
    contact_and_route(raw, row, 0)
    source(raw, "read_smu", V_READ)
    source(raw, "gate_smu", V_GATE)
    cols = station.state.tile_shape(0)[1]
    per_cell = []
    for col in range(cols):
        raw["controller"].command(f"COL {col}")
        per_cell.append(read(raw))
    raw["controller"].command("SCAN:MODE ROW;SCAN:RES")
    smu = raw["read_smu"]
    smu.write(f':TRAC:CLE;:TRIG:LOAD "SimpleLoop", {cols};:INIT;*WAI')
    assert smu.query(":TRAC:ACT?") == str(cols)
    row_read = np.array(smu.query(f':TRAC:DATA? 1, {cols}, "defbuffer1", READ').split(","), float)
    assert raw["controller"].query("SCAN:IDX?") == "0"  # wrapped after the last column
    ideal = station.wafer.die(*DIE).ideal_current_A(0, [row] * cols, range(cols), V_READ, V_GATE)
    np.testing.assert_allclose(row_read, per_cell, rtol=0.03, atol=1e-10)
    np.testing.assert_allclose(row_read, ideal, rtol=0.03, atol=1e-10)


def test_buffered_tile_read_in_two_round_trips(raw, station):
    contact_and_route(raw)
    source(raw, "read_smu", V_READ)
    source(raw, "gate_smu", V_GATE)
    rows, cols = station.state.tile_shape(1)
    raw["controller"].command("TILE 1;SCAN:MODE TILE")
    smu = raw["read_smu"]
    smu.command(f':TRAC:CLE;:TRIG:LOAD "SimpleLoop", {rows * cols};:INIT')
    reply = smu.query(f':TRAC:DATA? 1, {rows * cols}, "defbuffer1", READ, REL')
    values = np.array(reply.split(","), float).reshape(rows * cols, 2)
    currents, times = values[:, 0].reshape(rows, cols), values[:, 1]
    die = station.wafer.die(*DIE)
    r_idx, c_idx = np.divmod(np.arange(rows * cols), cols)
    ideal = die.ideal_current_A(1, r_idx, c_idx, V_READ, V_GATE).reshape(rows, cols)
    np.testing.assert_allclose(currents, ideal, rtol=0.03, atol=1e-10)
    assert np.all(np.diff(times) > 0)
    mean = float(smu.query(':TRAC:STAT:AVER? "defbuffer1"'))
    assert mean == pytest.approx(currents.mean(), rel=1e-5)


def test_buffer_is_bounded_and_data_range_checked(raw):
    smu = raw["read_smu"]
    smu.write(":TRAC:POIN 50")
    smu.write(':TRIG:LOAD "SimpleLoop", 30;:INIT;:INIT')
    assert smu.query(":TRAC:ACT?;:TRAC:POIN?") == "50;50"
    smu.write(':TRAC:DATA? 0, 10, "defbuffer1", READ')
    smu.write(':TRAC:DATA? 1, 51, "defbuffer1", READ')
    smu.write(':TRAC:DATA? 1, 10, "nobuffer", READ')
    smu.expect_silence()  # failed queries send nothing
    errors = [smu.query("SYST:ERR?") for _ in range(4)]
    assert [e.split(",")[0] for e in errors] == ["-222", "-222", "-224", "0"]
    smu.write(":TRAC:CLE")
    assert smu.query(":TRAC:ACT?") == "0"
    smu.write(':TRAC:POIN 100001;:TRIG:LOAD "SimpleLoop", 0;:TRIG:LOAD "Fancy", 3')
    assert smu.query("SYST:ERR?").startswith("-222")


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (":SOUR:VOLT:LEVEL:SHINY 1", "-113"),
        (":SOUR:VOLT", "-109"),
        (":SOUR:VOLT 300", "-222"),
        (":SOUR:VOLT:ILIM 0", "-222"),
        (":SOUR:FUNC WATT", "-224"),
        (":OUTP MAYBE", "-224"),
        (":SENS:FUNC 'TEMP'", "-224"),
        (':TRIG:LOAD "SimpleLoop"', "-109"),
        (":FORM:DATA REAL", "-224"),
    ],
)
def test_malformed_commands_queue_scpi_errors(raw, line, code):
    smu = raw["read_smu"]
    smu.write(line)
    assert smu.query("SYST:ERR?").startswith(code + ",")
    assert smu.query("SYST:ERR?") == '0,"No error"'


def test_current_sourcing_is_refused_with_a_settings_conflict(raw):
    smu = raw["read_smu"]
    smu.write(":SOUR:FUNC CURR;:SOUR:CURR 1e-6;:OUTP ON")
    assert float(smu.query(":READ?")) == pytest.approx(9.91e37)
    assert smu.query("SYST:ERR?").startswith("-221,")


def test_sense_resistance_and_stored_settings(raw, station):
    contact_and_route(raw, 1, 1)
    source(raw, "gate_smu", V_GATE)
    source(raw, "read_smu", V_READ)
    raw["read_smu"].command(":SENS:FUNC 'RES';:SENS:RES:NPLC 2;:ROUT:TERM REAR")
    resistance = float(raw["read_smu"].query(":READ?"))
    assert resistance == pytest.approx(V_READ / expected_current_A(station, 1, 1), rel=0.02)
    assert raw["read_smu"].query(":ROUT:TERM?;:SENS:CURR:NPLC?") == "REAR;2.000000E+00"
    raw["read_smu"].write("*RST")
    assert raw["read_smu"].query(":ROUT:TERM?;:OUTP?") == "FRON;0"


def test_readings_advance_the_scan_only_from_the_read_smu(raw, station):
    raw["controller"].command("SCAN:MODE ROW")
    raw["read_smu"].command(':TRIG:LOAD "SimpleLoop", 7;:INIT')
    raw["gate_smu"].command(':TRIG:LOAD "SimpleLoop", 5;:INIT')
    raw["read_smu"].query(":READ?")
    assert raw["controller"].query("SCAN:IDX?") == "8"
    assert station.state.die_position == WAFER_MAP[0]

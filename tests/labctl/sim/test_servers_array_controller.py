"""The emulated row/column controller: selection, writes, routing, scans, inference inputs."""

# ruff: noqa: F811  (pytest fixtures imported from sim_fixtures are parameters)

from __future__ import annotations

import numpy as np
import pytest
from sim_fixtures import raw, station, visa_open, visa_rm  # noqa: F401 (fixtures)

from labctl.core.defects import DefectCode

DIE = (4, 2)
V_READ = 0.1
V_GATE = 1.2


def contact(raw):
    assert raw["prober"].query(f"StepNextDie {DIE[0]} {DIE[1]}").startswith("0:")
    raw["prober"].query("MoveChuckContact")


def power_smus(raw, limit_A=1e-3):
    for role, volts in (("read_smu", V_READ), ("gate_smu", V_GATE)):
        raw[role].command(
            f":SOUR:FUNC VOLT;:SOUR:VOLT:ILIM {limit_A};:SENS:FUNC 'CURR';:SOUR:VOLT {volts};"
            ":OUTP ON"
        )


def test_identification_geometry_and_selection_through_pyvisa(station, visa_open):
    controller = visa_open(station.resources["controller"])
    assert controller.query("*IDN?") == "LABCTL,MTJ-ARRAY-CTRL,SIM0003,1.0"
    assert controller.query("NTIL?") == "2"
    assert controller.query("GEOM? 0") == "196,100"
    assert controller.query("GEOM? 1") == "100,10"
    controller.write("TILE 1;ROW 99;COL 9")
    assert controller.query("TILE?;ROW?;COL?") == "1;99;9"
    controller.write("PULS:AMPL 0.8;PULS:WIDT 2e-8;INP:VOLT 0.2;ROUT ON;SCAN:MODE INF")
    assert controller.query("PULS:AMPL?") == "8.000000E-01"
    assert controller.query("PULSe:WIDTh?;INPut:VOLTage?") == "2.000000E-08;2.000000E-01"
    assert controller.query("ROUT?;SCAN:MODE?") == "1;INFER"
    assert controller.query("SYST:ERR?") == '0,"No error"'
    controller.write("DESEL")
    assert controller.query("ROUT?;SCAN:MODE?;PULS:AMPL?") == "0;CELL;0.000000E+00"
    assert controller.query("TILE?") == "1"  # DESEL keeps the selection
    controller.write("*RST")
    assert controller.query("TILE?;ROW?;COL?;PULS:WIDT?") == "0;0;0;1.000000E-07"


def test_tile_change_resets_row_column_and_inputs(raw):
    controller = raw["controller"]
    controller.command("ROW 150;COL 80;INP " + "1" * 196)
    controller.command("TILE 1")
    assert controller.query("ROW?;COL?;INP?") == "0;0;" + "0" * 100


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("TILE 2", "-222"),
        ("ROW 196", "-222"),
        ("COL -1", "-222"),
        ("ROW 1.5", "-224"),
        ("ROW", "-109"),
        ("GEOM?", "-109"),
        ("PULS:AMPL 2.5", "-222"),
        ("PULS:WIDT 1e-10", "-222"),
        ("INP:VOLT 0.6", "-222"),
        ("WRIT:CELL X", "-224"),
        ("WRIT:ROW 0101", "-224"),  # wrong length
        ("WRIT:ROW " + "2" * 100, "-224"),
        ("INP 01", "-224"),
        ("SCAN:MODE DIAGONAL", "-224"),
        ("ROUT SOMETIMES", "-224"),
        ("WRIT:CELL AP", "-221"),  # pulse amplitude still 0
        ("FIRE:LASER", "-113"),
        ("ROW 1, 2", "-108"),
    ],
)
def test_malformed_commands_queue_scpi_errors(raw, line, code):
    controller = raw["controller"]
    controller.write(line)
    assert controller.query("SYST:ERR?").startswith(code + ",")
    assert controller.query("SYST:ERR?") == '0,"No error"'


def test_non_utf8_and_overlong_input(raw):
    controller = raw["controller"]
    controller.send(b"\xc3\x28ROW 1\n")
    controller.send(b"INP " + b"1" * 100_000 + b"\n")
    assert controller.query("SYST:ERR?").startswith("-113,")
    assert controller.query("SYST:ERR?").startswith("-223,")
    assert controller.query("ROW?") == "0"


def test_writes_switch_cells_in_contact_only(raw, station):
    die = station.wafer.die(*DIE)
    controller = raw["controller"]
    controller.command("TILE 1;PULS:AMPL 1.5;PULS:WIDT 1e-6")
    before = die.truth(1).state_ap.copy()
    controller.command("WRIT:TILE AP")  # not in contact: the pulses go nowhere
    np.testing.assert_array_equal(die.truth(1).state_ap, before)

    contact(raw)
    controller.command("WRIT:TILE AP")
    truth = die.truth(1)
    writable = truth.defects == DefectCode.OK
    assert truth.state_ap[writable].all()
    assert not truth.state_ap[truth.defects == DefectCode.STUCK_P].any()

    controller.command("ROW 3;COL 4;WRIT:CELL P")
    assert not die.truth(1).state_ap[3, 4] or die.truth(1).defects[3, 4] != DefectCode.OK

    bits = "0110100101"
    controller.command(f"ROW 7;WRIT:ROW {bits}")
    truth = die.truth(1)
    wanted = np.array([b == "1" for b in bits])
    ok = truth.defects[7] == DefectCode.OK
    np.testing.assert_array_equal(truth.state_ap[7][ok], wanted[ok])


def test_under_driven_pulses_rarely_switch(raw, station):
    contact(raw)
    die = station.wafer.die(*DIE)
    controller = raw["controller"]
    controller.command("TILE 1;PULS:AMPL 1.5;PULS:WIDT 1e-6;WRIT:TILE P")
    controller.command("PULS:AMPL 0.05;PULS:WIDT 1e-9;WRIT:TILE AP")
    truth = die.truth(1)
    assert not truth.state_ap[truth.defects == DefectCode.OK].any()


def test_write_p_then_ap_changes_reading_by_the_tmr(raw, station):
    contact(raw)
    power_smus(raw)
    row, col = 5, 6
    die = station.wafer.die(*DIE)
    assert die.truth(0).defects[row, col] == DefectCode.OK
    controller = raw["controller"]
    controller.command(f"TILE 0;ROW {row};COL {col};ROUT ON;PULS:AMPL 1.5;PULS:WIDT 1e-6")
    controller.command("WRIT:CELL P")
    r_p = V_READ / float(raw["read_smu"].query(":READ?"))
    controller.command("WRIT:CELL AP")
    r_ap = V_READ / float(raw["read_smu"].query(":READ?"))
    truth = die.truth(0)
    r_on = truth.r_on_ohm[row, col]
    tmr_measured = (r_ap - r_p) / (r_p - r_on)
    v_half = station.wafer.params.tmr_v_half_V
    tmr_expected = truth.tmr0[row, col] / (1 + (V_READ / v_half) ** 2)
    assert tmr_measured == pytest.approx(tmr_expected, rel=0.05)


def test_tile_scan_wraps_and_rearms(raw, station):
    contact(raw)
    power_smus(raw)
    controller = raw["controller"]
    controller.command("TILE 1;ROUT ON;SCAN:MODE TILE")
    raw["read_smu"].command(':TRIG:LOAD "SimpleLoop", 999;:INIT')
    assert controller.query("SCAN:IDX?") == "999"
    raw["read_smu"].command(":INIT")
    assert controller.query("SCAN:IDX?") == str((2 * 999) % 1000)
    controller.command("SCAN:RES")
    assert controller.query("SCAN:IDX?") == "0"
    controller.command("SCAN:MODE ROW")
    raw["read_smu"].command(':TRIG:LOAD "SimpleLoop", 3;:INIT')
    controller.command("ROW 1")  # a selection change re-arms the scan
    assert controller.query("SCAN:IDX?") == "0"


def test_inference_scan_reads_summed_bit_line_currents(raw, station):
    contact(raw)
    power_smus(raw, limit_A=0.1)  # a summed bit line carries mA
    die = station.wafer.die(*DIE)
    controller = raw["controller"]
    bits = np.random.default_rng(0).random(100) < 0.5
    bit_string = "".join("1" if b else "0" for b in bits)
    controller.command(f"TILE 1;INP:VOLT 0.2;INP {bit_string};ROUT ON;SCAN:MODE INFER")
    assert controller.query("INP?") == bit_string
    raw["read_smu"].command(':TRAC:CLE;:TRIG:LOAD "SimpleLoop", 20;:INIT')
    currents = np.array(
        raw["read_smu"].query(':TRAC:DATA? 1, 20, "defbuffer1", READ').split(","), float
    )
    truth = die.truth(1)
    r_mtj = truth.r_p_ohm * (1 + np.where(truth.state_ap, truth.tmr0 / (1 + (0.2 / 0.5) ** 2), 0.0))
    per_cell = np.where(np.isfinite(r_mtj), 0.2 / (r_mtj + truth.r_on_ohm), 0.0)
    expected = per_cell[bits].sum(axis=0)
    np.testing.assert_allclose(currents[:10], expected, rtol=0.03)
    np.testing.assert_allclose(currents[10:], expected, rtol=0.03)  # second pass, fresh noise
    assert not np.array_equal(currents[:10], currents[10:])


def test_batch_scan_reads_every_bit_line_of_every_vector_in_turn(raw, station):
    contact(raw)
    power_smus(raw, limit_A=0.1)
    die = station.wafer.die(*DIE)
    controller = raw["controller"]
    vectors = np.random.default_rng(1).random((3, 100)) < 0.5
    texts = ["".join("1" if b else "0" for b in v) for v in vectors]
    controller.command(f"TILE 1;INP:VOLT 0.2;INP:BATC {texts[0]},{texts[1]};INP:BATC {texts[2]}")
    assert controller.query("INP:BATC:COUN?") == "3"
    controller.command("ROUT ON;SCAN:MODE BATC")
    assert controller.query("SCAN:MODE?") == "BATCH"
    raw["read_smu"].command(':TRAC:CLE;:TRIG:LOAD "SimpleLoop", 30;:INIT')
    currents = np.array(
        raw["read_smu"].query(':TRAC:DATA? 1, 30, "defbuffer1", READ').split(","), float
    ).reshape(3, 10)
    expected = np.array([die.ideal_infer_currents_A(1, v, 0.2, V_GATE) for v in vectors])
    np.testing.assert_allclose(currents, expected, rtol=0.03)
    assert controller.query("SCAN:IDX?") == "0"  # wrapped after 3 x 10 triggers
    # a malformed vector refuses the whole command; a tile change or DESEL empties the batch
    controller.write(f"INP:BATC {texts[0]},0101")
    assert controller.query("SYST:ERR?").startswith("-224")
    assert controller.query("INP:BATC:COUN?") == "3"
    controller.command("TILE 0")
    assert controller.query("INP:BATC:COUN?") == "0"
    controller.command("TILE 1;INP:BATC " + texts[0] + ";DESEL")
    assert controller.query("INP:BATC:COUN?") == "0"
    controller.command("INP:BATC " + texts[0] + ";INP:BATC:CLE")
    assert controller.query("INP:BATC:COUN?") == "0"

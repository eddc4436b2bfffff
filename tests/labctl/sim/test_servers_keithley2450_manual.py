"""The emulated 2450 against its reference manual: language, status model, source lists and
sweeps, named buffers with element lists, trigger models (in-process, no sockets)."""

from __future__ import annotations

import pytest

from labctl.core.roles import Role
from labctl.sim.servers.keithley2450 import Keithley2450Instrument
from labctl.sim.state import StationState
from labctl.sim.wafer import VirtualWafer


@pytest.fixture
def smu() -> Keithley2450Instrument:
    instrument = Keithley2450Instrument(StationState(VirtualWafer(3)), Role.GATE_SMU, "T1")
    instrument.handle_line("*ESR?")  # clear the power-on event
    return instrument


def ask(smu: Keithley2450Instrument, line: str) -> str:
    reply = smu.handle_line(line)
    assert reply is not None, f"no reply to {line!r}: {smu.handle_line('SYST:ERR?')}"
    return reply


def numbers(reply: str) -> list[float]:
    return [float(field) for field in reply.split(",")]


def test_language_is_scpi_and_other_command_sets_are_refused(smu):
    assert ask(smu, "*LANG?") == "SCPI"
    smu.handle_line("*LANG SCPI")
    smu.handle_line("*LANG TSP")
    assert ask(smu, ":SYST:ERR:COUN?") == "1"
    assert ask(smu, ":SYST:ERR:NEXT?").startswith("-221,")
    assert ask(smu, "*LANG?") == "SCPI"


def test_power_on_event_then_error_classes_in_the_event_register():
    smu = Keithley2450Instrument(StationState(VirtualWafer(3)), Role.GATE_SMU, "T1")
    assert ask(smu, "*ESR?") == "128"  # PON
    assert ask(smu, "*ESR?") == "0"  # read and cleared
    smu.handle_line(":NOT:A:COMMAND")  # -113: command error
    smu.handle_line(":SOUR:VOLT 500")  # -222: execution error
    assert ask(smu, "*ESR?") == str(32 | 16)
    assert ask(smu, ":SYST:ERR:COUN?") == "2"
    smu.handle_line("*OPC")
    assert ask(smu, "*ESR?") == "1"


def test_status_byte_summarises_enabled_events(smu):
    assert ask(smu, "*STB?") == "0"
    smu.handle_line("BOGUS")
    assert ask(smu, "*STB?") == "4"  # EAV only: ESB not enabled
    smu.handle_line("*ESE 32;*SRE 32")
    assert ask(smu, "*STB?") == str(4 | 32 | 64)
    assert ask(smu, "*ESE?;*SRE?") == "32;32"
    smu.handle_line("*CLS")
    assert ask(smu, "*STB?") == "0"
    assert ask(smu, "*ESE?") == "32"  # *CLS keeps the enable registers


def test_sense_function_takes_either_quote_and_replies_quoted(smu):
    smu.handle_line(':SENS:FUNC "VOLT"')
    assert ask(smu, ":SENS:FUNC?") == '"VOLT:DC"'
    smu.handle_line(":SENS:FUNC 'CURR'")
    assert ask(smu, ":SENS:FUNC?") == '"CURR:DC"'
    assert ask(smu, ":SENS:CURR:RANG:AUTO?;:SOUR:VOLT:READ:BACK?") == "1;1"
    smu.handle_line(":SENS:CURR:RANG:AUTO OFF;:SOUR:VOLT:READ:BACK 0;:SENS:CURR:NPLC 0.5")
    assert ask(smu, ":SENS:CURR:RANG:AUTO?;:SOUR:VOLT:READ:BACK?;:SENS:CURR:NPLC?") == (
        "0;0;5.000000E-01"
    )
    smu.handle_line("*RST")
    assert ask(smu, ":SENS:CURR:RANG:AUTO?;:SOUR:VOLT:READ:BACK?") == "1;1"


def test_source_list_and_list_sweep(smu):
    smu.handle_line(":SOUR:LIST:VOLT 0.1, 0.2, 0.3;:SOUR:LIST:VOLT:APP 0.4")
    assert numbers(ask(smu, ":SOUR:LIST:VOLT?")) == [0.1, 0.2, 0.3, 0.4]
    assert ask(smu, ":SOUR:LIST:VOLT:POIN?") == "4"
    smu.handle_line(':SOUR:SWE:VOLT:LIST 2, 0, 2, OFF, "defbuffer1"')
    assert ask(smu, ":TRIG:STAT?") == "IDLE;IDLE;0"
    smu.handle_line(":INIT;*WAI")
    assert ask(smu, ":TRIG:STAT?") == "IDLE;IDLE;9"
    sources = numbers(ask(smu, ':TRAC:DATA? 1, 6, "defbuffer1", SOUR'))
    assert sources == [0.2, 0.3, 0.4, 0.2, 0.3, 0.4]
    assert not smu.settings.output_on and smu.settings.source_voltage_V == 0.0


def test_linear_sweep_with_dual_and_element_list(smu):
    smu.handle_line(":SENS:FUNC 'VOLT'")  # readings = the sourced voltage, no device needed
    smu.handle_line(":SOUR:SWE:VOLT:LIN 0, 1, 5, 0, 1, AUTO, OFF, ON, 'defbuffer1'")
    smu.handle_line(":INIT")
    assert ask(smu, ":TRAC:ACT?") == "10"
    fields = ask(smu, ":TRAC:DATA? 1, 10, 'defbuffer1', READ, SOUR, REL, UNIT, SOURUNIT").split(",")
    points = [fields[i : i + 5] for i in range(0, len(fields), 5)]
    assert [float(p[1]) for p in points] == [0, 0.25, 0.5, 0.75, 1, 1, 0.75, 0.5, 0.25, 0]
    assert all(float(p[0]) == float(p[1]) for p in points)
    assert all(p[3] == "Volt DC" and p[4] == "Volt DC" for p in points)
    times = [float(p[2]) for p in points]
    assert times == sorted(times) and times[0] == 0.0


def test_sweep_step_and_log_forms(smu):
    smu.handle_line(":SOUR:SWE:VOLT:LIN:STEP 0, 0.3, 0.1;:INIT")
    assert numbers(ask(smu, ":TRAC:DATA? 1, 4, 'defbuffer1', SOUR")) == pytest.approx(
        [0, 0.1, 0.2, 0.3]
    )
    smu.handle_line(":SOUR:SWE:VOLT:LOG 0.001, 1, 4;:INIT")
    assert numbers(ask(smu, ":TRAC:DATA? 1, 4, 'defbuffer1', SOUR")) == pytest.approx(
        [0.001, 0.01, 0.1, 1.0]
    )
    for line, code in (
        (":SOUR:SWE:VOLT:LOG -1, 1, 4", "-224"),  # crosses zero
        (":SOUR:SWE:VOLT:LIST 1", "-221"),  # empty source list
        (":SOUR:SWE:CURR:LIN 0, 1e-3, 3", "-221"),  # source function is VOLT
        (":SOUR:SWE:VOLT:LIN 0, 1, 5, 0, INF", "-224"),  # infinite sweeps are not emulated
    ):
        smu.handle_line(line)
        assert ask(smu, "SYST:ERR?").startswith(code + ","), line


def test_user_buffers_trace_trigger_and_fill_mode(smu):
    smu.handle_line(':TRAC:MAKE "mybuf", 3;:SENS:COUN 2')
    smu.handle_line(':TRAC:TRIG "mybuf";:TRAC:TRIG "mybuf"')
    assert ask(smu, ':TRAC:ACT? "mybuf";:TRAC:POIN? "mybuf"') == "3;3"  # circular
    smu.handle_line(':TRAC:CLE "mybuf";:TRAC:FILL:MODE ONCE, "mybuf"')
    smu.handle_line(':TRAC:TRIG "mybuf";:TRAC:TRIG "mybuf"')
    assert ask(smu, ':TRAC:ACT? "mybuf";:TRAC:FILL:MODE? "mybuf"') == "3;ONCE"
    assert ask(smu, ":TRAC:ACT?") == "0"  # defbuffer1 untouched
    smu.handle_line(':TRAC:DEL "mybuf"')
    smu.handle_line(':TRAC:ACT? "mybuf"')
    assert ask(smu, "SYST:ERR?").startswith("-224,")
    smu.handle_line(':TRAC:DEL "defbuffer1"')
    assert ask(smu, "SYST:ERR?").startswith("-224,")


def test_loop_until_event_runs_until_its_trigger(smu):
    smu.handle_line(':TRAC:MAKE "ev", 20')
    smu.handle_line(':TRIG:LOAD "LoopUntilEvent", COMM, 50, ENT, 0, "ev";:INIT')
    assert ask(smu, ":TRIG:STAT?") == "RUNNING;RUNNING;1"
    smu.handle_line(':TRIG:LOAD "SimpleLoop", 3')  # cannot replace a running model
    assert ask(smu, "SYST:ERR?").startswith("-221,")
    smu.handle_line("*TRG")
    assert ask(smu, ':TRIG:STAT?;:TRAC:ACT? "ev"') == "IDLE;IDLE;7;10"
    smu.handle_line(":INIT;:ABOR")
    assert ask(smu, ":TRIG:STAT?") == "ABORTED;ABORTED;7"


def test_duration_loop_and_unknown_models(smu):
    smu.handle_line(":SENS:CURR:NPLC 1")  # 1/60 s + 0.2 ms per reading
    smu.handle_line(':TRIG:LOAD "DurationLoop", 0.1;:INIT')
    assert ask(smu, ":TRAC:ACT?") == "5"
    smu.handle_line(':TRIG:LOAD "ConfigList", "a"')
    assert ask(smu, "SYST:ERR?").startswith("-224,")
    smu.handle_line(':TRIG:LOAD "Empty";:INIT')
    assert ask(smu, ":TRIG:STAT?;:TRAC:ACT?") == "EMPTY;EMPTY;0;5"


def test_measurement_register_reports_a_full_buffer(smu):
    """PyMeasure's KeithleyBuffer flow: *SRE 1 and :STAT:MEAS:ENAB 512, then *STB? = 65."""
    smu.handle_line(":STAT:PRES;*CLS;*SRE 1;:STAT:MEAS:ENAB 512;")
    smu.handle_line(":TRAC:CLEAR;:TRAC:POIN 4;:TRAC:FEED SENSE;:TRAC:FEED:CONT NEXT;")
    smu.handle_line(':TRIG:LOAD "SimpleLoop", 3;:INIT')
    assert ask(smu, "*STB?") == "0"
    smu.handle_line(":INIT")
    assert ask(smu, "*STB?") == "65"
    assert ask(smu, ":STAT:MEAS?") == "512"  # read and cleared
    assert ask(smu, "*STB?") == "0"


def test_measure_function_queries_switch_the_function(smu):
    smu.handle_line(":SOUR:VOLT 0.5;:OUTP ON")
    assert float(ask(smu, ":MEAS:VOLT?")) == pytest.approx(0.5)
    assert ask(smu, ":SENS:FUNC?") == '"VOLT:DC"'
    reply = ask(smu, ':READ? "defbuffer1", READ, SOUR, UNIT')
    assert reply.split(",")[1:] == ["5.000000E-01", "Volt DC"]
    assert ask(smu, ":SYST:LFR?") == "60"

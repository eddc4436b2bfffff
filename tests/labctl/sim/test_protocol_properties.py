"""The emulated instruments against random lines, property-based: never an exception, never an
emulator fault (-300), error-queue semantics as documented (a failing command is reported and
stops its line, the queue holds 32 entries and then reports overflow, *CLS empties it), every
reply printable ASCII; the prober always answers with an SCI code."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.core.roles import Role
from labctl.sim.servers.array_controller import ArrayControllerInstrument
from labctl.sim.servers.keithley2450 import Keithley2450Instrument
from labctl.sim.servers.scpi import DEVICE_SPECIFIC_ERROR, QUEUE_OVERFLOW, ScpiInstrument
from labctl.sim.servers.velox import VeloxInstrument
from labctl.sim.state import StationState
from labctl.sim.wafer import VirtualWafer

_WAFER = VirtualWafer(0)
_ENTRY = re.compile(r'^-?\d+,"[ -~]*"$')

CONTROLLER_WORDS = ["*IDN?", "*RST", "*CLS", "*OPC?", "*STB?", "SYST:ERR?", "SYST:ERR:COUN?",
                    "NTIL?", "GEOM?", "TILE", "TILE?", "ROW", "COL?", "PULS:AMPL", "PULS:WIDT?",
                    "WRIT:CELL", "WRIT:ROW", "WRIT:TILE", "ROUT", "ROUT?", "SCAN:MODE",
                    "SCAN:RES", "SCAN:IDX?", "INP:VOLT", "INP", "INP?", "DESEL", "bogus", "AMPL"]
SMU_WORDS = ["*IDN?", "*RST", ":SOUR:FUNC", ":SOUR:VOLT:LEV", ":SOUR:VOLT:ILIM", ":OUTP",
             ":READ?", ":TRAC:CLE", ":TRAC:POIN", ":TRAC:ACT?", ":TRIG:LOAD", ":INIT", ":ABOR",
             ":TRAC:DATA?", ":TRAC:STAT:AVER?", ":SENS:CURR:NPLC", "SYST:ERR?", "LEV", "ILIM"]
PARAMS = ["", " 0", " 1", " -1", " 1e3", " nan", " ON", " AP", " P", " 1010", ' "x"', " ,",
          " 0,1", " MAX", " 1e-12", " 195", " 99999999999", ' "SimpleLoop", 3', " CELL", " TILE",
          " 1, 1, \"defbuffer1\", READ", " 9.5", " \x00", " é"]


def lines(words: list[str]) -> st.SearchStrategy[str]:
    command = st.tuples(st.sampled_from(words), st.sampled_from(PARAMS), st.booleans()).map(
        lambda t: (t[0].lower() if t[2] else t[0]) + t[1]
    )
    garbage = st.text(max_size=30).map(lambda s: s.replace("\n", " "))
    return st.one_of(st.lists(command, min_size=1, max_size=4).map(";".join), garbage)


def _run(instrument: ScpiInstrument, line: str) -> str | None:
    with instrument.lock:
        reply = instrument.handle_line(line)
    if reply is not None:
        assert reply.isascii() and reply.isprintable(), reply[:80]
    return reply


def _check_queue(instrument: ScpiInstrument) -> None:
    entries = []
    for _ in range(40):
        entry = _run(instrument, "SYST:ERR?")
        assert entry is not None and _ENTRY.match(entry), entry
        if entry.startswith("0,"):
            break
        entries.append(entry)
    assert len(entries) <= 32
    assert not any(e.startswith(f"{DEVICE_SPECIFIC_ERROR},") for e in entries), entries


@settings(max_examples=300, deadline=None)
@given(st.lists(lines(CONTROLLER_WORDS), max_size=10))
def test_controller_never_fails_on_any_lines(batch: list[str]) -> None:
    instrument = ArrayControllerInstrument(StationState(_WAFER), serial="P")
    for line in batch:
        _run(instrument, line)
    _check_queue(instrument)


@settings(max_examples=300, deadline=None)
@given(st.lists(lines(SMU_WORDS), max_size=10))
def test_smu_never_fails_on_any_lines(batch: list[str]) -> None:
    instrument = Keithley2450Instrument(StationState(_WAFER), Role.READ_SMU, serial="P")
    for line in batch:
        _run(instrument, line)
    _check_queue(instrument)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(CONTROLLER_WORDS[6:]), min_size=1, max_size=3),
       st.sampled_from(["bogus", "ROW 99999", "TILE x", "PULS:AMPL 9", "WRIT:ROW 1"]))
def test_a_failing_command_is_queued_and_stops_its_line(prefix: list[str], bad: str) -> None:
    instrument = ArrayControllerInstrument(StationState(_WAFER), serial="P")
    assert _run(instrument, "*CLS;DESEL") is None
    reply = _run(instrument, f"{bad};*IDN?")
    assert reply is None  # the query after the failure did not run
    entry = _run(instrument, "SYST:ERR?")
    assert entry is not None and not entry.startswith("0,")
    assert _run(instrument, "SYST:ERR?") == '0,"No error"'


def test_the_queue_holds_32_entries_then_reports_overflow() -> None:
    instrument = ArrayControllerInstrument(StationState(_WAFER), serial="P")
    for _ in range(40):
        _run(instrument, "bogus")
    assert _run(instrument, "SYST:ERR:COUN?") == "32"
    entries = [_run(instrument, "SYST:ERR?") for _ in range(33)]
    assert entries[30].startswith("-113,")
    assert entries[31] == f'{QUEUE_OVERFLOW},"Queue overflow"'
    assert entries[32] == '0,"No error"'
    _run(instrument, "bogus;*CLS")
    _run(instrument, "bogus")
    assert _run(instrument, "*CLS;SYST:ERR?") == '0,"No error"'


PROBER_WORDS = ["*IDN?", "StepFirstDie", "StepNextDie", "ReadMapPosition", "MoveChuckContact",
                "MoveChuckSeparation", "ReadChuckPosition", "SetChuckIndex", "MoveChuck",
                "MoveChuckIndex", "ReadChuckIndex", "IsAppRegistered", "Bogus", "*RST"]
_SCI = re.compile(r"^\d+:( |$)")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.sampled_from(PROBER_WORDS),
              st.lists(st.sampled_from(["0", "3", "-1", "1e9", "x", "Y", "Z", "H", "R", "nan",
                                        "100", "0.1"]), max_size=5)).map(
        lambda t: " ".join([t[0], *t[1]])),
    st.text(max_size=30).map(lambda s: s.replace("\n", " ")),
), max_size=10))
def test_prober_answers_every_sci_command_with_a_code(batch: list[str]) -> None:
    state = StationState(_WAFER)
    instrument = VeloxInstrument(state, serial="P")
    for line in batch:
        with instrument.lock:
            reply = instrument.handle_line(line)
        words = line.split()
        if not words or words[0].upper() in ("*RST", "*CLS"):
            assert reply is None
        elif words[0].upper() in ("*IDN?", "*OPC?", "*STB?"):
            assert reply is not None and not _SCI.match(reply)
        else:
            assert reply is not None and _SCI.match(reply), (line, reply)
        assert state.prober.height in ("contact", "align", "separation")

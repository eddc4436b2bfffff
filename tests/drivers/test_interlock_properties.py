"""The interlocks against any spelling: random SCPI messages (short and long forms, any case,
relative headers, keywords, compound lines) go through the drivers to the emulated instruments,
and whatever the drivers let through never leaves an SMU sourcing above the station's limits,
current-sourcing or with a looser compliance, nor a write pulse above the write limit."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymeasure.adapters import Adapter

from drivers.array_controller import ArrayController
from drivers.keithley2450 import LabctlKeithley2450
from labctl.core.errors import InstrumentError, SafetyError
from labctl.core.roles import Role
from labctl.sim.servers.array_controller import ArrayControllerInstrument
from labctl.sim.servers.keithley2450 import Keithley2450Instrument
from labctl.sim.state import StationState
from labctl.sim.wafer import VirtualWafer

MAX_READ_V = 0.2
COMPLIANCE_A = 0.01
MAX_WRITE_V = 1.2
MAX_INPUT_V = 0.2

_WAFER = VirtualWafer(0)


class InProcessAdapter(Adapter):
    """Hands every message straight to an emulated instrument (no sockets)."""

    def __init__(self, instrument: Any) -> None:
        super().__init__()
        self.instrument = instrument
        self.replies: list[str] = []
        self.sent: list[str] = []

    def _write(self, command: str, **kwargs: Any) -> None:
        self.sent.append(command)
        with self.instrument.lock:
            reply = self.instrument.handle_line(command)
        if reply is not None:
            self.replies.append(reply)

    def _read(self, **kwargs: Any) -> str:
        if not self.replies:
            raise InstrumentError("no reply")
        return self.replies.pop(0)


def smu_bench() -> tuple[LabctlKeithley2450, StationState]:
    state = StationState(_WAFER)
    instrument = Keithley2450Instrument(state, Role.READ_SMU, serial="P")
    driver = LabctlKeithley2450(InProcessAdapter(instrument), max_source_voltage_V=MAX_READ_V)
    driver.max_current_limit_A = COMPLIANCE_A
    return driver, state


def controller_bench() -> tuple[ArrayController, StationState]:
    state = StationState(_WAFER)
    instrument = ArrayControllerInstrument(state, serial="P")
    driver = ArrayController(InProcessAdapter(instrument), max_write_voltage_V=MAX_WRITE_V,
                             max_input_voltage_V=MAX_INPUT_V)
    return driver, state


def spellings(*forms: str) -> st.SearchStrategy[str]:
    """A header in any case, with or without a leading colon."""
    return st.tuples(st.sampled_from(forms), st.booleans(), st.booleans()).map(
        lambda t: (":" if t[1] else "") + (t[0].lower() if t[2] else t[0])
    )


NUMBERS = st.one_of(
    st.sampled_from(["0", "0.1", "0.2", "0.2000001", "0.25", "5", "-5", "1e-3", "0.5", "1.05",
                     "MAX", "MIN", "DEF", "max", "1e1", " 0.1", "nan", "+0.19", "1.2", "1.3",
                     "2", "0.01", "0.011", "1E-2"]),
    st.floats(min_value=-3, max_value=3, allow_nan=False).map(lambda v: f"{v:.4g}"),
)
SMU_SEGMENTS = st.one_of(
    st.tuples(spellings("SOUR:VOLT:LEV", "SOURCE:VOLTAGE:LEVEL", "SOUR:VOLT", "SOUR:VOLT:AMPL",
                        "SOUR:VOLT:LEV:IMM:AMPL", "SOUR:VOLT:IMM", "LEV", "AMPL", "VOLT:LEV"),
              NUMBERS),
    st.tuples(spellings("SOUR:VOLT:ILIM", "SOURCE:VOLTAGE:ILIMIT:LEVEL", "ILIM", "ILIM:LEV",
                        "VOLT:ILIM", "SOUR:VOLT:ILIM:LEV"), NUMBERS),
    st.tuples(spellings("OUTP", "OUTPUT", "OUTP:STAT", "OUTPUT:STATE", "STAT"),
              st.sampled_from(["ON", "OFF", "1", "0", "on"])),
    st.tuples(spellings("SOUR:FUNC", "SOURCE:FUNCTION:MODE", "FUNC"),
              st.sampled_from(["VOLT", "CURR", "VOLTAGE", "CURRENT"])),
    st.tuples(spellings("SOUR:CURR:LEV", "SOUR:CURR:VLIM", "SOUR:VOLT:RANG", "SENS:CURR:NPLC"),
              NUMBERS),
    st.tuples(st.sampled_from(["*RST", "*RCL", "*CLS", "SYST:ERR?", ":SOUR:VOLT:ILIM:TRIP?",
                               ":SOUR:VOLT?"]), st.sampled_from(["", "1"])),
)
CONTROLLER_SEGMENTS = st.one_of(
    st.tuples(spellings("PULS:AMPL", "PULSE:AMPLITUDE", "AMPL", "PULS:AMPLITUDE"), NUMBERS),
    st.tuples(spellings("PULS:WIDT", "PULSE:WIDTH", "WIDT"), st.sampled_from(["1e-7", "5e-8"])),
    st.tuples(spellings("INP:VOLT", "INPUT:VOLTAGE", "VOLT"), NUMBERS),
    st.tuples(spellings("WRIT:CELL", "WRITE:CELL", "CELL", "WRIT:TILE", "TILE"),
              st.sampled_from(["P", "AP", "0", "1"])),
    st.tuples(st.sampled_from(["*RST", "DESEL", "DESELECT", "*OPC?", "ROUT", "SCAN:MODE"]),
              st.sampled_from(["", "ON", "TILE"])),
)


def message(segments: st.SearchStrategy[tuple[str, str]]) -> st.SearchStrategy[str]:
    return st.lists(segments, min_size=1, max_size=4).map(
        lambda parts: ";".join(f"{h} {a}".rstrip() for h, a in parts)
    )


def _send(driver: Any, command: str) -> None:
    with contextlib.suppress(SafetyError):  # refused: nothing was sent
        driver.write(command)
    driver.adapter.replies.clear()


@settings(max_examples=400, deadline=None)
@given(st.lists(message(SMU_SEGMENTS), min_size=1, max_size=8))
def test_no_message_sequence_lets_an_smu_exceed_the_station_limits(messages: list[str]) -> None:
    driver, state = smu_bench()
    for command in messages:
        sent_before = len(driver.adapter.sent)
        _send(driver, command)
        smu = state.smus[Role.READ_SMU]
        if smu.output_on:
            assert abs(smu.source_voltage_V) <= MAX_READ_V + 1e-12, command
            assert smu.current_limit_A <= COMPLIANCE_A * (1 + 1e-9), command
            assert smu.source_function == "VOLT", command
        assert len(driver.adapter.sent) - sent_before in (0, 1)


@settings(max_examples=300, deadline=None)
@given(st.lists(message(CONTROLLER_SEGMENTS), min_size=1, max_size=8))
def test_no_message_sequence_gets_a_pulse_above_the_write_limit(messages: list[str]) -> None:
    driver, state = controller_bench()
    for command in messages:
        _send(driver, command)
        assert state.controller.pulse_amplitude_V <= MAX_WRITE_V, command
        assert state.controller.input_voltage_V <= MAX_INPUT_V + 1e-12, command


@pytest.mark.parametrize(
    "command",
    [
        ":SOUR:VOLT:RANG 2;LEV 5",  # relative to :SOUR:VOLT
        ":SOUR:VOLT:AMPL 5",  # optional keywords left out
        ":source1:voltage:level:immediate:amplitude 0.5",  # suffix, long form, lower case
        ":SOUR:VOLT:ILIM:TRIP?;LEV 0.5",  # relative to a query's path: the current limit
        ":SOUR:VOLT:ILIM\t0.5",  # a tab instead of a blank
        ":SOUR:FUNC CURR",  # current sourcing
        "*RCL 1",  # a recalled setup
    ],
)
def test_known_bypasses_are_refused(command: str) -> None:
    driver, _ = smu_bench()
    with pytest.raises(SafetyError):
        driver.write(command)
    assert driver.adapter.sent == []


def test_a_relative_header_is_allowed_only_under_each_reading() -> None:
    driver, state = controller_bench()
    with pytest.raises(SafetyError):
        driver.write("PULS:WIDT 1e-7;AMPL 1.9")
    with pytest.raises(SafetyError, match="AMPL refused: not on the array controller's"):
        driver.write("PULS:WIDT 1e-7;AMPL 0.9")  # AMPL at the root is no controller command
    assert driver.adapter.sent == []
    driver.write("PULS:WIDT 1e-7;:PULS:AMPL 0.9")
    assert state.controller.pulse_amplitude_V == pytest.approx(0.9)

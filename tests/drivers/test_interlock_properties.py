"""The interlocks against any spelling: random SCPI messages (short and long forms, any case,
relative headers, keywords, compound lines) go through the drivers to the emulated instruments,
and whatever the drivers let through never leaves an SMU sourcing above the station's limits,
current-sourcing or with a looser compliance, nor a write pulse above the write limit."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pymeasure.adapters import Adapter

from drivers.array_controller import CONTROLLER_COMMANDS, ArrayController
from drivers.keithley2450 import SMU_COMMANDS, LabctlKeithley2450
from labctl.core.errors import InstrumentError, SafetyError
from labctl.core.limits import (
    READ_VOLTAGE_CEILING_V,
    WRITE_VOLTAGE_CEILING_V,
    WRITE_WIDTH_RANGE_s,
)
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


# --- allow-lists: control characters, unknown headers, lists and sweeps beyond the limits -------
CONTROL_CHARACTERS = st.sampled_from([chr(c) for c in range(0x20)] + ["\x7f"])


def _state(driver: Any) -> str:
    instrument = driver.adapter.instrument
    return repr(instrument.settings if hasattr(instrument, "role") else instrument.ctl)


def _refused_and_unchanged(driver: Any, command: str) -> None:
    before = _state(driver)
    with pytest.raises(SafetyError, match="nothing was sent"):
        driver.write(command)
    assert driver.adapter.sent == []
    assert _state(driver) == before


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["smu", "controller"]), st.data(), CONTROL_CHARACTERS)
def test_a_control_character_anywhere_refuses_the_message(kind: str, data: st.DataObject,
                                                          control: str) -> None:
    driver, _ = smu_bench() if kind == "smu" else controller_bench()
    command = data.draw(message(SMU_SEGMENTS if kind == "smu" else CONTROLLER_SEGMENTS))
    position = data.draw(st.integers(0, len(command)))
    _refused_and_unchanged(driver, command[:position] + control + command[position:])


SCPI_WORDS = st.from_regex(r"\*?[A-Za-z]{1,9}[0-9]?", fullmatch=True)
HEADERS = st.lists(SCPI_WORDS, min_size=1, max_size=5).map(":".join)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["smu", "controller"]), HEADERS, st.booleans(),
       st.sampled_from(["", "1", "ON", "5", '"x"']))
def test_headers_off_the_allow_list_are_refused(kind: str, header: str, query: bool,
                                                argument: str) -> None:
    driver, _ = smu_bench() if kind == "smu" else controller_bench()
    allowed = SMU_COMMANDS if kind == "smu" else CONTROLLER_COMMANDS
    header = header.upper() + ("?" if query else "")
    assume(allowed.match(header) is None)
    _refused_and_unchanged(driver, f":{header} {argument}".rstrip())


LEVELS = st.floats(-3 * MAX_READ_V, 3 * MAX_READ_V, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(st.lists(LEVELS, min_size=1, max_size=20), st.booleans())
def test_source_lists_are_allowed_only_within_the_limit(levels: list[float], append: bool) -> None:
    driver, _ = smu_bench()
    header = ":SOUR:LIST:VOLT:APP" if append else ":SOUR:LIST:VOLT"
    command = f"{header} {','.join(f'{v:.6g}' for v in levels)}"
    if all(abs(float(f"{v:.6g}")) <= MAX_READ_V for v in levels):
        driver.write(command)
        assert driver.adapter.sent == [command]
    else:
        _refused_and_unchanged(driver, command)


@settings(max_examples=300, deadline=None)
@given(LEVELS, LEVELS, st.integers(2, 50), st.booleans())
def test_sweeps_run_only_within_the_limit(start_V: float, stop_V: float, points: int,
                                          limit_first: bool) -> None:
    driver, state = smu_bench()
    if limit_first:
        driver.write(f":SOUR:VOLT:ILIM {COMPLIANCE_A:g}")
        driver.adapter.sent.clear()
    command = f":SOUR:SWE:VOLT:LIN {start_V:.6g}, {stop_V:.6g}, {points}"
    within = max(abs(float(f"{start_V:.6g}")), abs(float(f"{stop_V:.6g}"))) <= MAX_READ_V
    if not (within and limit_first):
        _refused_and_unchanged(driver, command)
        return
    driver.write(command)
    _send(driver, ":INIT")  # runs the sweep: the output goes on at each level
    sources_V = driver.adapter.instrument.buffer.sources  # the levels the sweep applied
    assert sources_V.size == points
    assert np.all(np.abs(sources_V) <= MAX_READ_V)
    assert state.smus[Role.READ_SMU].current_limit_A <= COMPLIANCE_A * (1 + 1e-9)
    with pytest.raises(SafetyError, match="source level unknown"):
        driver.write("OUTP ON")  # the sweep left the level to the instrument


@settings(max_examples=200, deadline=None)
@given(st.floats(-5, 5, allow_nan=False), st.floats(1e-12, 1e-2))
def test_controller_amplitude_width_and_inputs_stay_within_ceilings(
    amplitude_V: float, width_s: float
) -> None:
    driver, state = controller_bench()
    driver.max_write_voltage_V = None  # no station limit: the ceilings still hold
    driver.max_input_voltage_V = None
    for command in (f"PULS:AMPL {amplitude_V:.6g}", f"PULS:WIDT {width_s:.6g}",
                    f"INP:VOLT {abs(amplitude_V):.6g}"):
        _send(driver, command)
    assert 0 <= state.controller.pulse_amplitude_V <= WRITE_VOLTAGE_CEILING_V
    assert state.controller.pulse_width_s <= WRITE_WIDTH_RANGE_s[1]
    assert state.controller.input_voltage_V <= READ_VOLTAGE_CEILING_V

"""Keithley 2450 SMU: PyMeasure's driver plus compliance state, buffered reads and interlocks."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymeasure.instruments import Instrument
from pymeasure.instruments.keithley.keithley2450 import Keithley2450
from pymeasure.instruments.validators import strict_range

from drivers.allow_list import (
    Allowed,
    AllowList,
    TextOnly,
    any_argument,
    choice,
    integer,
    no_argument,
    number,
    numbers_list,
    parse_strict_number,
    refuse_control_characters,
)
from drivers.interlock import refuse_above_limit
from drivers.scpi import segment_headers, strict_check_errors
from drivers.terminations import with_line_terminations
from labctl.core.errors import InstrumentError, SafetyError
from labctl.core.limits import COMPLIANCE_CURRENT_CEILING_A, SMU_VOLTAGE_CEILING_V, tightest

#: Current limit range of the 2450 when sourcing voltage, A.
CURRENT_LIMIT_RANGE_A = (1e-9, 1.05)
#: Integration time range in power-line cycles.
NPLC_RANGE = (0.01, 10.0)
#: Capacity of the 2450's default reading buffer ``defbuffer1``.
BUFFER_CAPACITY = 100_000

#: Most points of a source list or sweep (the 2450's own limit).
MAX_SOURCE_POINTS = 2500
#: Relative tolerance of the buffer check: the instrument's own average of its readings must
#: match the average of the readings received. ASCII readings carry 7 significant digits, so
#: rounding alone moves either average by at most 1e-6 of the mean magnitude.
_AVERAGE_TOLERANCE = 2e-6


@dataclass(frozen=True)
class BufferReadout:
    """Readings fetched from ``defbuffer1`` and checked against the instrument's own count and
    average, with the compliance state of the acquisition that took them."""

    readings: np.ndarray
    tripped: bool


class LabctlKeithley2450(TextOnly, Keithley2450):
    """PyMeasure's ``Keithley2450`` with labctl's additions, sourcing voltage, measuring current.

    Interlocks (checked in :meth:`write`, so no path through this driver escapes them, and
    nothing is sent when they refuse):

    * only the commands of :data:`SMU_COMMANDS` may be sent, as printable ASCII (no control
      character can start a second, unchecked command);
    * a source level (also in a source list or sweep) above ``max_source_voltage_V`` is refused,
      and never above :data:`labctl.core.limits.SMU_VOLTAGE_CEILING_V`, even with no station
      limit set; so is switching the output on while the level is unknown or above the limit;
    * the output cannot be switched on, nor a sweep loaded, before a positive current limit was
      sent through this driver (``*RST`` forgets it);
    * a current limit above ``max_current_limit_A`` (never above the compliance ceiling) is
      refused;
    * current sourcing, ``*RCL`` and scripts are not on the list: refused.

    Headers are matched in every SCPI form (short/long, any case, relative to the previous
    command's path: each possible reading must be allowed), so no spelling slips past the
    checks.
    """

    def __init__(
        self,
        adapter: Any,
        name: str = "Keithley 2450 SourceMeter",
        max_source_voltage_V: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(adapter, name, **with_line_terminations(kwargs))
        self.max_source_voltage_V = max_source_voltage_V
        self.max_current_limit_A: float | None = None
        self._current_limit_set = False
        self._source_level_V: float | None = None
        self._buffer_points = 0
        #: Whether the last verified acquisition hit the current limit.
        self.last_acquisition_tripped = False

    compliance_tripped = Instrument.measurement(
        ":SOUR:VOLT:ILIM:TRIP?",
        """Get whether the current limit was reached while sourcing voltage (bool).""",
        cast=int,
        values={True: 1, False: 0},
        map_values=True,
    )

    compliance_current = Instrument.control(
        ":SOUR:VOLT:ILIM?",
        ":SOUR:VOLT:ILIM %g",
        """Control the current limit (compliance) in A while sourcing voltage,
        strictly from 1 nA to 1.05 A. Setting it arms :meth:`enable_source`.""",
        validator=strict_range,
        values=CURRENT_LIMIT_RANGE_A,
    )

    @property
    def current_limit_set(self) -> bool:
        """Whether a current limit was sent through this driver since it opened (or ``*RST``)."""
        return self._current_limit_set

    def configure_voltage_source(
        self, voltage_V: float, current_limit_A: float, nplc: float = 1.0
    ) -> None:
        """Source ``voltage_V`` with a current limit and measure current, in one message.

        Auto ranges for source and measurement; the output state is left as it is.
        """
        strict_range(current_limit_A, CURRENT_LIMIT_RANGE_A)
        strict_range(nplc, NPLC_RANGE)
        self.write(
            ":SOUR:FUNC VOLT;:SOUR:VOLT:RANG:AUTO 1;"
            f":SOUR:VOLT:ILIM {current_limit_A:g};"
            ":SENS:FUNC 'CURR';:SENS:CURR:RANG:AUTO 1;"
            f":SENS:CURR:NPLC {nplc:g};"
            f":SOUR:VOLT:LEV {voltage_V:g}"
        )

    def configure_buffered_current(self, n_points: int) -> None:
        """Clear ``defbuffer1`` and load a trigger model that takes ``n_points`` readings.

        Each trigger also advances the array controller's scan, so one acquisition reads a
        whole row or tile.
        """
        if isinstance(n_points, bool) or not isinstance(n_points, int):
            raise ValueError(f"n_points must be an int, got {n_points!r}")
        strict_range(n_points, (1, BUFFER_CAPACITY))
        self.write(f':TRAC:CLE;:TRIG:LOAD "SimpleLoop", {n_points}')
        self._buffer_points = n_points

    def acquire_buffer(self) -> np.ndarray:
        """Run the loaded trigger model and return its readings (A) in one round trip.

        ``:INIT;*WAI`` makes the instrument finish the acquisition before it answers the
        following ``:TRAC:DATA?``; the VISA timeout must cover the acquisition time.
        """
        if self._buffer_points < 1:
            raise RuntimeError("configure_buffered_current() must be called before acquiring")
        self.write(":INIT;*WAI")
        return self.read_buffer(self._buffer_points)

    def acquire_verified(self) -> BufferReadout:
        """Like :meth:`acquire_buffer`, and the readings are verified (:meth:`read_verified`)."""
        if self._buffer_points < 1:
            raise RuntimeError("configure_buffered_current() must be called before acquiring")
        self.write(":INIT;*WAI")
        return self.read_verified(self._buffer_points)

    def read_verified(self, n_points: int) -> BufferReadout:
        """Fetch readings 1 ... ``n_points`` with, in the same reply, the buffer's reading count,
        the instrument's average of them and the compliance flag; InstrumentError unless the
        reply parses, the counts agree and the averages agree (a garbled digit in any reading
        that matters moves the average). Still one round trip."""
        reply = self.ask(
            f':TRAC:DATA? 1, {n_points}, "defbuffer1", READ;:TRAC:ACT?;:TRAC:STAT:AVER?;'
            ":SOUR:VOLT:ILIM:TRIP?"
        )
        parts = reply.split(";")
        if len(parts) != 4:
            raise InstrumentError(f"{self.name}: garbled buffer reply ({len(parts)} parts)")
        readings = _parse_readings(parts[0], n_points, self.name)
        count, average, tripped = (_parse_float(p, self.name) for p in parts[1:])
        if count != n_points:
            raise InstrumentError(
                f"{self.name}: buffer holds {count:g} readings, expected {n_points}"
            )
        magnitude = float(np.mean(np.abs(readings)))
        if abs(float(np.mean(readings)) - average) > _AVERAGE_TOLERANCE * magnitude:
            raise InstrumentError(
                f"{self.name}: garbled buffer reply: readings average "
                f"{float(np.mean(readings)):.7g} A, instrument says {average:.7g} A"
            )
        if tripped not in (0.0, 1.0):
            raise InstrumentError(f"{self.name}: garbled compliance flag {parts[3]!r}")
        self.last_acquisition_tripped = tripped == 1.0
        return BufferReadout(readings, self.last_acquisition_tripped)

    def read_currents(self, n_points: int) -> np.ndarray:
        """``n_points`` single readings (``:READ?``, A) in one message and one reply."""
        if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 1:
            raise ValueError(f"n_points must be a positive int, got {n_points!r}")
        reply = self.ask(";".join([":READ?"] * n_points))
        return _parse_readings(reply.replace(";", ","), n_points, self.name)

    def check_errors(self) -> list[list[Any]]:
        """Drain the error queue; a reply that is not a queue entry raises InstrumentError."""
        return strict_check_errors(self)

    def check_command(self, command: str) -> None:
        """Raise SafetyError if the interlocks refuse ``command`` (nothing is changed)."""
        self._interlock_state_after(command)

    def reset_interlock_state(self) -> None:
        """Forget what was set through this driver (the instrument may have restarted): the
        output stays refused until a current limit and a level are sent again."""
        self._current_limit_set = False
        self._source_level_V = None
        self._buffer_points = 0

    def read_buffer(self, n_points: int) -> np.ndarray:
        """Fetch readings 1 ... ``n_points`` of ``defbuffer1`` as a float64 array (A)."""
        reply = self.ask(f':TRAC:DATA? 1, {n_points}, "defbuffer1", READ')
        return _parse_readings(reply, n_points, self.name)

    def write(self, command: str, **kwargs: Any) -> None:
        """Send ``command`` after the interlocks accepted it (see the class docstring)."""
        limit_set, level_V = self._interlock_state_after(command)
        super().write(command, **kwargs)
        self._current_limit_set, self._source_level_V = limit_set, level_V

    @property
    def source_limit_V(self) -> float:
        """Largest source level accepted: the station's limit, never above the ceiling."""
        return tightest(self.max_source_voltage_V, SMU_VOLTAGE_CEILING_V)

    @property
    def current_limit_bound_A(self) -> float:
        """Largest current limit accepted: the station's compliance, never above the ceiling."""
        return tightest(self.max_current_limit_A, COMPLIANCE_CURRENT_CEILING_A)

    def _interlock_state_after(self, command: str) -> tuple[bool, float | None]:
        """Check ``command`` segment by segment; return the interlock state it leads to."""
        refuse_control_characters(command, self.name)
        limit_set, level_V = self._current_limit_set, self._source_level_V
        for headers, argument in segment_headers(command):
            tags = SMU_COMMANDS.check(self, headers, argument)
            if "reset" in tags:
                limit_set, level_V = False, 0.0
            if "current limit" in tags:
                limit_set = True
            if "level" in tags:
                level_V = parse_strict_number(argument)
            if "sweep" in tags:
                if not limit_set:
                    raise SafetyError(f"{self.name}: sweep refused: it switches the output on, "
                                      "and no current limit was set through the driver; "
                                      "nothing was sent")
                level_V = None  # the sweep leaves the level to the instrument
            if "output" in tags and argument.strip().upper() in ("ON", "1"):
                self._refuse_output_on(limit_set, level_V)
        return limit_set, level_V

    def _refuse_output_on(self, limit_set: bool, level_V: float | None) -> None:
        if not limit_set:
            raise SafetyError(
                f"{self.name}: output not enabled: no current limit was set through the driver; "
                "nothing was sent"
            )
        if level_V is None:
            raise SafetyError(
                f"{self.name}: output not enabled: source level unknown (set it first); "
                "nothing was sent"
            )
        refuse_above_limit(level_V, self.source_limit_V, f"{self.name} source level")


def _source_bounds(driver: LabctlKeithley2450) -> tuple[float, float]:
    return -driver.source_limit_V, driver.source_limit_V


def _current_limit_bounds(driver: LabctlKeithley2450) -> tuple[float, float]:
    return CURRENT_LIMIT_RANGE_A[0], driver.current_limit_bound_A * (1 + 1e-9)


_ON_OFF = choice("ON", "OFF", "1", "0")
_DEFBUFFER = choice("defbuffer1")
_SIMPLE_LOOP = re.compile(r'^"SimpleLoop"\s*,\s*(\d+)$', re.IGNORECASE)


def _trace_clear(driver: LabctlKeithley2450, argument: str) -> str | None:
    return None if not argument.strip() else _DEFBUFFER(driver, argument)


def _simple_loop(driver: LabctlKeithley2450, argument: str) -> str | None:
    """Only the ``SimpleLoop`` trigger model: it reads, and never changes the source."""
    match = _SIMPLE_LOOP.match(argument.strip())
    if match is None:
        return 'only "SimpleLoop", <count> may be loaded'
    return integer(1, BUFFER_CAPACITY)(driver, match.group(1))


def _linear_sweep(driver: LabctlKeithley2450, argument: str) -> str | None:
    """``<start>, <stop>, <points>[, <delay>[, <count>[, <rangeType>[, <failAbort>[, <dual>
    [, <bufferName>]]]]]]``: start and stop within the source limit."""
    params = [p.strip() for p in argument.split(",")]
    if not 3 <= len(params) <= 9:
        return "needs start, stop, points and at most 6 options"
    checks = [
        number(_source_bounds, "V"), number(_source_bounds, "V"),
        integer(2, MAX_SOURCE_POINTS), number(lambda d: (-1.0, 10.0), "s"),
        integer(1, BUFFER_CAPACITY), choice("AUTO", "BEST", "FIX", "FIXED"), _ON_OFF, _ON_OFF,
        _DEFBUFFER,
    ]
    for check, param in zip(checks, params, strict=False):
        problem = check(driver, param)
        if problem is not None:
            return problem
    return None


_VOLT_LEVEL = ":SOURce:VOLTage[:LEVel][:IMMediate][:AMPLitude]"
_CURRENT_LIMIT = ":SOURce:VOLTage:ILIMit[:LEVel]"
_SOURCE_LIST = ":SOURce:LIST:VOLTage[:LIST]"
#: Everything labctl sends to a 2450. Lists and sweeps are allowed only in voltage and only
#: with every level within the source limit; other sweeps, current sourcing, scripts, other
#: trigger models, *RCL, *TST and the like are refused.
SMU_COMMANDS = AllowList("SMU", [
    Allowed("*RST", no_argument, tag="reset"),
    *(Allowed(header, no_argument) for header in ("*CLS", "*WAI", "*OPC", ":STATus:PRESet",
                                                  ":ABORt", ":INITiate[:IMMediate]")),
    Allowed(":SOURce:FUNCtion[:MODE]", choice("VOLT", "VOLTAGE")),
    Allowed(_VOLT_LEVEL, number(_source_bounds, "V"), tag="level"),
    Allowed(":SOURce:VOLTage:RANGe", number(lambda d: (0.0, 21.0), "V")),
    Allowed(":SOURce:VOLTage:RANGe:AUTO", _ON_OFF),
    Allowed(_CURRENT_LIMIT, number(_current_limit_bounds, "A"), tag="current limit"),
    Allowed("[:SENSe]:FUNCtion[:ON]", choice("CURR", "CURRENT", "CURR:DC", "CURRENT:DC")),
    Allowed("[:SENSe]:CURRent[:DC]:RANGe:AUTO", _ON_OFF),
    Allowed("[:SENSe]:CURRent[:DC]:RANGe[:UPPer]", number(lambda d: (0.0, 1.05), "A")),
    Allowed("[:SENSe]:CURRent[:DC]:NPLCycles", number(lambda d: NPLC_RANGE, "PLC")),
    Allowed(":OUTPut[:STATe]", _ON_OFF, tag="output"),
    Allowed(":TRACe:CLEar", _trace_clear),
    Allowed(":TRIGger:LOAD", _simple_loop),
    Allowed(_SOURCE_LIST, numbers_list(_source_bounds, "V", MAX_SOURCE_POINTS)),
    Allowed(":SOURce:LIST:VOLTage:APPend", numbers_list(_source_bounds, "V", MAX_SOURCE_POINTS)),
    Allowed(":SOURce:SWEep:VOLTage:LINear", _linear_sweep, tag="sweep"),
    *(Allowed(header, any_argument, query=True) for header in (
        "*IDN", "*OPC", "*STB", "*ESR", "*LANG", ":SYSTem:ERRor[:NEXT]", ":SYSTem:ERRor:COUNt",
        ":SOURce:FUNCtion[:MODE]", _VOLT_LEVEL, ":SOURce:VOLTage:RANGe",
        ":SOURce:VOLTage:RANGe:AUTO", _CURRENT_LIMIT, ":SOURce:VOLTage:ILIMit[:LEVel]:TRIPped",
        ":OUTPut[:STATe]", "[:SENSe]:FUNCtion[:ON]", "[:SENSe]:CURRent[:DC]:NPLCycles",
        "[:SENSe]:CURRent[:DC]:RANGe[:UPPer]", "[:SENSe]:CURRent[:DC]:RANGe:AUTO", ":READ",
        ":TRACe:DATA", ":TRACe:ACTual", ":TRACe:STATistics:AVERage", ":TRIGger:STATe",
        _SOURCE_LIST, ":SOURce:LIST:VOLTage:POINts",
    )),
])


def _parse_float(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InstrumentError(f"{name}: garbled reply {text[:40]!r}") from None
    if not math.isfinite(value):
        raise InstrumentError(f"{name}: non-finite value in reply {text[:40]!r}")
    return value


def _parse_readings(reply: str, n_points: int, name: str) -> np.ndarray:
    """Comma-separated readings, exactly ``n_points`` finite numbers, else InstrumentError."""
    try:
        readings = np.array(reply.split(","), dtype=np.float64)
    except ValueError as exc:
        raise InstrumentError(f"{name}: unreadable buffer data: {reply[:80]!r}") from exc
    if readings.shape != (n_points,):
        raise InstrumentError(f"{name}: expected {n_points} buffered readings, got {readings.size}")
    if not np.isfinite(readings).all():
        raise InstrumentError(f"{name}: non-finite value in buffered readings")
    return readings

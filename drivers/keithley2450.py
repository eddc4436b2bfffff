"""Keithley 2450 SMU: PyMeasure's driver plus compliance state, buffered reads and interlocks."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from pymeasure.instruments import Instrument
from pymeasure.instruments.keithley.keithley2450 import Keithley2450
from pymeasure.instruments.validators import strict_range

from drivers.interlock import refuse_above_limit
from drivers.scpi import parse_number, scpi_segments
from drivers.terminations import with_line_terminations
from labctl.errors import InstrumentError, SafetyError

#: Current limit range of the 2450 when sourcing voltage, A.
CURRENT_LIMIT_RANGE_A = (1e-9, 1.05)
#: Integration time range in power-line cycles.
NPLC_RANGE = (0.01, 10.0)
#: Capacity of the 2450's default reading buffer ``defbuffer1``.
BUFFER_CAPACITY = 100_000

_CURRENT_LIMIT = re.compile(r"^SOUR(?:CE)?:VOLT(?:AGE)?:ILIM(?:IT)?(?::LEV(?:EL)?)?$")
_VOLTAGE_LEVEL = re.compile(
    r"^SOUR(?:CE)?:VOLT(?:AGE)?(?::LEV(?:EL)?(?::IMM(?:EDIATE)?(?::AMPL(?:ITUDE)?)?)?)?$"
)
_OUTPUT_STATE = re.compile(r"^OUTP(?:UT)?(?::STAT(?:E)?)?$")


class LabctlKeithley2450(Keithley2450):
    """PyMeasure's ``Keithley2450`` with labctl's additions, sourcing voltage, measuring current.

    Interlocks (checked in :meth:`write`, so no path through this driver escapes them, and
    nothing is sent when they refuse):

    * the output cannot be switched on before a positive current limit was sent through this
      driver (``*RST`` forgets it);
    * a source level above ``max_source_voltage_V`` (when set) is refused, and so is switching
      the output on while the level is unknown or above that limit.
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
        self._current_limit_set = False
        self._source_level_V: float | None = None
        self._buffer_points = 0

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

    def read_buffer(self, n_points: int) -> np.ndarray:
        """Fetch readings 1 ... ``n_points`` of ``defbuffer1`` as a float64 array (A)."""
        reply = self.ask(f':TRAC:DATA? 1, {n_points}, "defbuffer1", READ')
        try:
            readings = np.array(reply.split(","), dtype=np.float64)
        except ValueError as exc:
            raise InstrumentError(f"{self.name}: unreadable buffer data: {reply[:80]!r}") from exc
        if readings.shape != (n_points,):
            raise InstrumentError(
                f"{self.name}: expected {n_points} buffered readings, got {readings.size}"
            )
        return readings

    def write(self, command: str, **kwargs: Any) -> None:
        """Send ``command`` after the interlocks accepted it (see the class docstring)."""
        limit_set, level_V = self._interlock_state_after(command)
        super().write(command, **kwargs)
        self._current_limit_set, self._source_level_V = limit_set, level_V

    def _interlock_state_after(self, command: str) -> tuple[bool, float | None]:
        """Check ``command`` segment by segment; return the interlock state it leads to."""
        limit_set, level_V = self._current_limit_set, self._source_level_V
        for header, argument in scpi_segments(command):
            if header.endswith("?"):
                continue
            if header == "*RST":
                limit_set, level_V = False, 0.0
            elif _CURRENT_LIMIT.match(header):
                limit_set = limit_set or 0.0 < parse_number(argument) < float("inf")
            elif _VOLTAGE_LEVEL.match(header):
                level_V = parse_number(argument)
                refuse_above_limit(level_V, self.max_source_voltage_V, f"{self.name} source level")
            elif _OUTPUT_STATE.match(header) and argument.upper() in ("ON", "1"):
                self._refuse_output_on(limit_set, level_V)
        return limit_set, level_V

    def _refuse_output_on(self, limit_set: bool, level_V: float | None) -> None:
        if not limit_set:
            raise SafetyError(
                f"{self.name}: output not enabled: no current limit was set through the driver; "
                "nothing was sent"
            )
        if self.max_source_voltage_V is not None:
            if level_V is None:
                raise SafetyError(
                    f"{self.name}: output not enabled: source level unknown (set it first); "
                    "nothing was sent"
                )
            refuse_above_limit(level_V, self.max_source_voltage_V, f"{self.name} source level")

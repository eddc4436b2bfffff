"""Emulated Keithley 2450 SourceMeter (SCPI subset), one instance per SMU role.

The ``read_smu`` sources the read voltage on the routed bit line and measures its current; the
``gate_smu`` sources the word-line voltage (which sets the access transistors' on-resistance in
the die model) and measures the gate leakage. Readings clamp at the current limit
(``:SOUR:VOLT:ILIM``) and set the trip flag (``:SOUR:VOLT:ILIM:TRIP?``, 1 when the last
acquisition hit the limit).

Buffered acquisition, as on the 2450: ``:TRIG:LOAD "SimpleLoop", <n>`` loads a trigger model of
n readings, ``:INIT`` runs it (computed in one vectorised call; each read-SMU trigger also advances
the row/column controller's scan) and appends the readings to ``defbuffer1`` (circular, capacity
``:TRAC:POIN``, default 100 000); ``:TRAC:DATA? <start>, <end>, "defbuffer1", READ`` returns them
comma-separated in one line. ``:READ?`` takes one reading (also a trigger) and stores it too.

Emulated, not modelled: current sourcing (readings in ``:SOUR:FUNC CURR`` return 9.91E37 and push
-221), measurement ranges (readings are always auto-ranged), filters, delays; such settings are
stored and read back. PyMeasure's legacy ``KeithleyBuffer`` commands (``:TRAC:FEED``,
``:STAT:MEAS:ENAB``, ``*SRE``, ``:FORM:DATA ASCII``) are accepted so its helpers work.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from labctl.sim.faults import InstrumentFaults
from labctl.sim.servers.scpi import (
    DATA_OUT_OF_RANGE,
    ILLEGAL_PARAMETER_VALUE,
    SETTINGS_CONFLICT,
    ScpiError,
    ScpiInstrument,
    expect_params,
    format_bool,
    format_float,
    parse_bool,
    parse_choice,
    parse_float,
    parse_int,
    unquote,
)
from labctl.sim.state import (
    GATE_SMU,
    READ_SMU,
    SenseFunction,
    SmuState,
    SourceFunction,
    StationState,
)

FloatArray = NDArray[np.float64]

FIRMWARE_VERSION = "1.7.12b"
#: The 2450's "not a number" reading (overflow, no measurement).
NAN_READING = 9.91e37
DEFAULT_BUFFER_CAPACITY = 100_000
MAX_BUFFER_CAPACITY = 100_000
#: Time per reading besides integration (s), for the buffer's relative timestamps.
_READING_OVERHEAD_S = 200e-6
_POWER_LINE_HZ = 60.0

_SOURCE_FUNCTIONS: dict[str, SourceFunction] = {"VOLTage": "VOLT", "CURRent": "CURR"}
_SENSE_FUNCTIONS: dict[str, SenseFunction] = {
    "CURRent[:DC]": "CURR",
    "VOLTage[:DC]": "VOLT",
    "RESistance": "RES",
}
_SENSE_REPLY = {"CURR": '"CURR:DC"', "VOLT": '"VOLT:DC"', "RES": '"RES"'}
_ELEMENTS = {"READing": "READ", "SOURce": "SOUR", "RELative": "REL"}
_BUFFER_NAMES = ("defbuffer1", "defbuffer2")


class ReadingBuffer:
    """A bounded reading buffer: readings, source values and relative times, oldest dropped."""

    def __init__(self, capacity: int = DEFAULT_BUFFER_CAPACITY) -> None:
        self.capacity = capacity
        self.clear()

    def clear(self) -> None:
        self.readings: FloatArray = np.empty(0)
        self.sources: FloatArray = np.empty(0)
        self.times_s: FloatArray = np.empty(0)
        self._clock_s = 0.0

    def __len__(self) -> int:
        return int(self.readings.size)

    def append(self, readings: FloatArray, source_value: float, period_s: float) -> None:
        n = readings.size
        times = self._clock_s + period_s * np.arange(n)
        self._clock_s += period_s * n
        keep = self.capacity
        self.readings = np.concatenate([self.readings, readings])[-keep:]
        self.sources = np.concatenate([self.sources, np.full(n, source_value)])[-keep:]
        self.times_s = np.concatenate([self.times_s, times])[-keep:]

    def element(self, name: str) -> FloatArray:
        return {"READ": self.readings, "SOUR": self.sources, "REL": self.times_s}[name]


class Keithley2450Instrument(ScpiInstrument):
    """One emulated 2450; ``role`` is ``read_smu`` or ``gate_smu``."""

    def __init__(self, state: StationState, role: str, serial: str) -> None:
        if role not in (READ_SMU, GATE_SMU):
            raise ValueError(f"unknown SMU role {role!r}")
        super().__init__(state.lock)
        self.state = state
        self.role = role
        self.serial = serial
        self.buffer = ReadingBuffer()
        self.trigger_count = 0  # readings of the loaded trigger model (0: empty model)
        self._measure: Callable[[int], FloatArray] = (
            state.measure_read_current_A if role == READ_SMU else state.measure_gate_current_A
        )
        #: Acquisition faults (contact loss, current spikes), attached by start_sim_station.
        self.faults: InstrumentFaults | None = None
        self._register_commands()

    @property
    def settings(self) -> SmuState:
        return self.state.smus[self.role]

    # --- ScpiInstrument -------------------------------------------------------------------------
    def identity(self) -> str:
        return f"KEITHLEY INSTRUMENTS,MODEL 2450,{self.serial},{FIRMWARE_VERSION}"

    def reset(self) -> None:
        self.state.smus[self.role] = SmuState()
        self.buffer = ReadingBuffer()
        self.trigger_count = 0

    def status_byte(self) -> int:
        full = 65 if len(self.buffer) >= self.buffer.capacity else 0  # MSB + MSS, as KeithleyBuffer
        return super().status_byte() | full

    # --- acquisition ----------------------------------------------------------------------------
    def acquire(self, n_points: int) -> FloatArray:
        """n readings as the front panel would show them (clamped), stored in the buffer."""
        smu = self.settings
        if smu.source_function != "VOLT":
            self.errors.push(ScpiError(SETTINGS_CONFLICT, "current sourcing is not emulated"))
            readings = np.full(n_points, NAN_READING)
        else:
            current_A = self._measure_with_faults(n_points)
            limit_A = smu.current_limit_A
            smu.tripped = bool(np.any(np.abs(current_A) > limit_A))
            current_A = np.clip(current_A, -limit_A, limit_A)
            readings = self._as_sense_function(current_A, smu)
        period_s = smu.nplc / _POWER_LINE_HZ + _READING_OVERHEAD_S
        self.buffer.append(readings, self._source_value(smu), period_s)
        return readings

    def _measure_with_faults(self, n_points: int) -> FloatArray:
        """The readings, with this acquisition's injected faults: the probes lose contact at a
        random reading (open circuit from there on), or one reading spikes past the limit."""
        if self.faults is None:
            return self._measure(n_points)
        fate = self.faults.on_acquisition(n_points, self.state.in_contact)
        if fate.contact_lost_at is None:
            current_A = self._measure(n_points)
        else:
            k = fate.contact_lost_at
            before = self._measure(k) if k else np.empty(0)
            self.state.contact_lost = True
            current_A = np.concatenate([before, self._measure(n_points - k)])
        if fate.spike_at is not None:
            current_A[fate.spike_at] = 10.0 * self.settings.current_limit_A
        return current_A

    @staticmethod
    def _as_sense_function(current_A: FloatArray, smu: SmuState) -> FloatArray:
        v_V = smu.sourcing_voltage_V
        if smu.sense_function == "CURR":
            return current_A
        if smu.sense_function == "VOLT":
            return np.full(current_A.size, v_V)
        with np.errstate(divide="ignore", invalid="ignore"):
            resistance = v_V / current_A
        return np.where(np.isfinite(resistance), resistance, NAN_READING)

    @staticmethod
    def _source_value(smu: SmuState) -> float:
        return smu.source_voltage_V if smu.source_function == "VOLT" else smu.source_current_A

    # --- command table --------------------------------------------------------------------------
    def _register_commands(self) -> None:
        add = self.table.add
        add(
            ":SOURce:FUNCtion[:MODE]",
            self._set_source_function,
            self._no_params(lambda: self.settings.source_function),
        )
        add(
            ":SOURce:VOLTage[:LEVel][:IMMediate][:AMPLitude]",
            self._set_voltage,
            self._no_params(lambda: format_float(self.settings.source_voltage_V)),
        )
        add(
            ":SOURce:CURRent[:LEVel][:IMMediate][:AMPLitude]",
            self._set_current,
            self._no_params(lambda: format_float(self.settings.source_current_A)),
        )
        add(
            ":SOURce:VOLTage:ILIMit[:LEVel]",
            self._set_current_limit,
            self._no_params(lambda: format_float(self.settings.current_limit_A)),
        )
        add(
            ":SOURce:VOLTage:ILIMit[:LEVel]:TRIPped",
            on_query=self._no_params(lambda: format_bool(self.settings.tripped)),
        )
        add(
            ":SOURce:CURRent:VLIMit[:LEVel]",
            self._set_voltage_limit,
            self._no_params(lambda: format_float(self.settings.voltage_limit_V)),
        )
        add(":SOURce:CURRent:VLIMit[:LEVel]:TRIPped", on_query=self._no_params(lambda: "0"))
        add(
            "[:SENSe]:FUNCtion[:ON]",
            self._set_sense_function,
            self._no_params(lambda: _SENSE_REPLY[self.settings.sense_function]),
        )
        for function in ("CURRent[:DC]", "VOLTage[:DC]", "RESistance"):
            add(
                f"[:SENSe]:{function}:NPLCycles",
                self._set_nplc,
                self._no_params(lambda: format_float(self.settings.nplc)),
            )
        add(
            ":OUTPut[:STATe]",
            self._set_output,
            self._no_params(lambda: format_bool(self.settings.output_on)),
        )
        self._register_stored_settings()
        self._register_measurement_commands()
        self._register_buffer_commands()
        self._register_accepted_commands()

    def _register_stored_settings(self) -> None:
        """Settings a driver may send and read back but that do not change the readings."""
        number = format_float

        def as_number(token: str) -> str:
            return number(
                parse_float(token, named={"MINimum": 0.0, "MAXimum": 1e3, "DEFault": 0.0})
            )

        def as_bool(token: str) -> str:
            return format_bool(parse_bool(token))

        for function in ("VOLTage", "CURRent"):
            self._stored(f":SOURce:{function}:RANGe", "2.100000E+01", as_number)
            self._stored(f":SOURce:{function}:RANGe:AUTO", "1", as_bool)
            self._stored(f":SOURce:{function}:DELay", "0.000000E+00", as_number)
            self._stored(f":SOURce:{function}:DELay:AUTO", "1", as_bool)
            self._stored(
                f":OUTPut:{function}:SMODe",
                "NORM",
                lambda t: parse_choice(
                    t, {"HIMPedance": "HIMP", "NORMal": "NORM", "ZERO": "ZERO", "GUARd": "GUAR"}
                ),
            )
        for function in ("CURRent[:DC]", "VOLTage[:DC]", "RESistance"):
            self._stored(f"[:SENSe]:{function}:RANGe[:UPPer]", "1.000000E-04", as_number)
            self._stored(f"[:SENSe]:{function}:RANGe:AUTO", "1", as_bool)
            self._stored(f"[:SENSe]:{function}:AVERage[:STATe]", "0", as_bool)
            self._stored(
                f"[:SENSe]:{function}:AVERage:COUNt", "10", lambda t: str(parse_int(t, 1, 100))
            )
            self._stored(
                f"[:SENSe]:{function}:AVERage:TCONtrol",
                "REP",
                lambda t: parse_choice(t, {"REPeat": "REP", "MOVing": "MOV"}),
            )
        self._stored("[:SENSe]:RESistance:RSENse", "0", as_bool)
        self._stored(
            ":ROUTe:TERMinals", "FRON", lambda t: parse_choice(t, {"FRONt": "FRON", "REAR": "REAR"})
        )

    def _stored(self, pattern: str, default: str, parse: Callable[[str], str]) -> None:
        def set_value(params: list[str]) -> None:
            expect_params(params, 1)
            self.settings.extra[pattern] = parse(params[0])

        def get_value(params: list[str]) -> str:
            expect_params(params, 0)
            return self.settings.extra.get(pattern, default)

        self.table.add(pattern, set_value, get_value)

    def _register_measurement_commands(self) -> None:
        add = self.table.add
        add(":READ", on_query=self._read)
        add(":MEASure[:CURRent][:DC]", on_query=self._read)
        add(":MEASure:VOLTage[:DC]", on_query=self._read)
        add(":MEASure:RESistance", on_query=self._read)
        add(":FETCh", on_query=self._fetch)
        add(":INITiate[:IMMediate]", on_set=self._no_params(self._run_trigger_model))
        add(":ABORt", on_set=self._no_params(lambda: None))
        add("*TRG", on_set=self._no_params(lambda: None))
        add(":TRIGger:LOAD", on_set=self._load_trigger_model)

    def _register_buffer_commands(self) -> None:
        add = self.table.add
        add(":TRACe:CLEar", on_set=self._clear_buffer)
        add(
            ":TRACe:POINts",
            self._set_capacity,
            self._buffer_query(lambda: str(self.buffer.capacity)),
        )
        add(":TRACe:ACTual", on_query=self._buffer_query(lambda: str(len(self.buffer))))
        add(
            ":TRACe:ACTual:STARt",
            on_query=self._buffer_query(lambda: "1" if len(self.buffer) else "0"),
        )
        add(":TRACe:ACTual:END", on_query=self._buffer_query(lambda: str(len(self.buffer))))
        add(":TRACe:DATA", on_query=self._trace_data)
        statistics: dict[str, Callable[[FloatArray], float]] = {
            "AVERage": lambda r: float(np.mean(r)),
            "MAXimum": lambda r: float(np.max(r)),
            "MINimum": lambda r: float(np.min(r)),
            "STDDev": lambda r: float(np.std(r, ddof=1)) if r.size > 1 else 0.0,
            "PK2Pk": lambda r: float(np.ptp(r)),
        }
        for name, statistic in statistics.items():
            add(
                f":TRACe:STATistics:{name}",
                on_query=self._buffer_query(self._statistic_query(statistic)),
            )

    def _register_accepted_commands(self) -> None:
        """Commands with no effect on the emulation, accepted with a parameter check."""
        add = self.table.add
        add(":STATus:MEASurement:ENABle", on_set=self._one_param(lambda p: parse_int(p, 0, 65535)))
        add(
            ":TRACe:FEED",
            on_set=self._one_param(
                lambda p: parse_choice(p, {"SENSe": 1, "CALCulate": 2, "NONE": 0})
            ),
        )
        add(
            ":TRACe:FEED:CONTrol",
            on_set=self._one_param(lambda p: parse_choice(p, {"NEXT": 1, "NEVer": 0, "ALWays": 2})),
        )
        add(
            ":FORMat[:DATA]",
            on_set=self._one_param(lambda p: parse_choice(p, {"ASCii": 1})),
            on_query=self._no_params(lambda: "ASC"),
        )
        add(":SYSTem:BEEPer[:IMMediate]", on_set=self._beep)

    # --- handlers -------------------------------------------------------------------------------
    def _set_source_function(self, params: list[str]) -> None:
        expect_params(params, 1)
        self.settings.source_function = parse_choice(params[0], _SOURCE_FUNCTIONS)

    def _set_voltage(self, params: list[str]) -> None:
        expect_params(params, 1)
        self.settings.source_voltage_V = parse_float(
            params[0], -210.0, 210.0, named={"MINimum": -210.0, "MAXimum": 210.0, "DEFault": 0.0}
        )

    def _set_current(self, params: list[str]) -> None:
        expect_params(params, 1)
        self.settings.source_current_A = parse_float(
            params[0], -1.05, 1.05, named={"MINimum": -1.05, "MAXimum": 1.05, "DEFault": 0.0}
        )

    def _set_current_limit(self, params: list[str]) -> None:
        expect_params(params, 1)
        self.settings.current_limit_A = parse_float(
            params[0], 1e-9, 1.05, named={"MINimum": 1e-9, "MAXimum": 1.05, "DEFault": 105e-6}
        )

    def _set_voltage_limit(self, params: list[str]) -> None:
        expect_params(params, 1)
        self.settings.voltage_limit_V = parse_float(
            params[0], 0.02, 210.0, named={"MINimum": 0.02, "MAXimum": 210.0, "DEFault": 21.0}
        )

    def _set_sense_function(self, params: list[str]) -> None:
        expect_params(params, 1)
        self.settings.sense_function = parse_choice(params[0], _SENSE_FUNCTIONS)

    def _set_nplc(self, params: list[str]) -> None:
        expect_params(params, 1)
        self.settings.nplc = parse_float(
            params[0], 0.01, 10.0, named={"MINimum": 0.01, "MAXimum": 10.0, "DEFault": 1.0}
        )

    def _set_output(self, params: list[str]) -> None:
        expect_params(params, 1)
        smu = self.settings
        smu.output_on = parse_bool(params[0])
        if not smu.output_on:
            smu.tripped = False

    def _read(self, params: list[str]) -> str:
        """:READ? [<buffer>[, <element>...]]: one triggered reading, stored in the buffer."""
        elements = self._buffer_elements(params)
        self.acquire(1)
        return self._format_points(len(self.buffer), len(self.buffer), elements)

    def _fetch(self, params: list[str]) -> str:
        elements = self._buffer_elements(params)
        if not len(self.buffer):
            raise ScpiError(SETTINGS_CONFLICT, "buffer is empty")
        return self._format_points(len(self.buffer), len(self.buffer), elements)

    def _run_trigger_model(self) -> None:
        if self.trigger_count:
            self.acquire(self.trigger_count)

    def _load_trigger_model(self, params: list[str]) -> None:
        expect_params(params, 1, 4)
        name = unquote(params[0]).upper()
        if name == "EMPTY":
            expect_params(params, 1)
            self.trigger_count = 0
        elif name == "SIMPLELOOP":
            expect_params(params, 2, 4)
            count = parse_int(params[1], 1, MAX_BUFFER_CAPACITY)
            if len(params) > 2:
                parse_float(params[2], 0.0, 10_000.0)  # delay (s): the emulation does not wait
            if len(params) > 3:
                self._check_buffer_name(params[3])
            self.trigger_count = count
        else:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"trigger model {name[:40]}")

    def _clear_buffer(self, params: list[str]) -> None:
        expect_params(params, 0, 1)
        if params:
            self._check_buffer_name(params[0])
        self.buffer.clear()

    def _set_capacity(self, params: list[str]) -> None:
        expect_params(params, 1, 2)
        if len(params) == 2:
            self._check_buffer_name(params[1])
        self.buffer = ReadingBuffer(parse_int(params[0], 1, MAX_BUFFER_CAPACITY))

    def _trace_data(self, params: list[str]) -> str:
        """:TRAC:DATA? <start>, <end>[, <buffer>[, <element>...]] (1-based, inclusive)."""
        count = len(self.buffer)
        if not params:  # legacy form: the whole buffer
            return self._format_points(1, count, ["READ"]) if count else ""
        expect_params(params, 2, 6)
        if count == 0:
            raise ScpiError(DATA_OUT_OF_RANGE, "buffer is empty")
        start = parse_int(params[0], 1, count)
        end = parse_int(params[1], start, count)
        return self._format_points(start, end, self._buffer_elements(params[2:]))

    def _buffer_elements(self, params: list[str]) -> list[str]:
        """[<buffer>[, <element>...]] -> element names, READ by default."""
        if params:
            self._check_buffer_name(params[0])
        elements = [parse_choice(p, _ELEMENTS) for p in params[1:]]
        return elements or ["READ"]

    def _format_points(self, start: int, end: int, elements: list[str]) -> str:
        columns = [self.buffer.element(name)[start - 1 : end] for name in elements]
        values = np.column_stack(columns).ravel() if len(columns) > 1 else columns[0]
        return ",".join(f"{value:.6E}" for value in values.tolist())

    def _statistic_query(self, statistic: Callable[[FloatArray], float]) -> Callable[[], str]:
        def query() -> str:
            if not len(self.buffer):
                return format_float(NAN_READING)
            return format_float(statistic(self.buffer.readings))

        return query

    @staticmethod
    def _check_buffer_name(token: str) -> None:
        if unquote(token).lower() not in _BUFFER_NAMES:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"buffer {token[:40]}")

    def _buffer_query(self, action: Callable[[], str]) -> Callable[[list[str]], str]:
        """A buffer query with an optional buffer-name parameter."""

        def handler(params: list[str]) -> str:
            expect_params(params, 0, 1)
            if params:
                self._check_buffer_name(params[0])
            return action()

        return handler

    @staticmethod
    def _one_param(check: Callable[[str], object]) -> Callable[[list[str]], None]:
        def handler(params: list[str]) -> None:
            expect_params(params, 1)
            check(params[0])

        return handler

    @staticmethod
    def _beep(params: list[str]) -> None:
        expect_params(params, 2)
        parse_float(params[0], 20.0, 2e6)
        parse_float(params[1], 0.001, 100.0)

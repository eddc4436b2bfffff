"""Emulated Keithley 2450 SourceMeter (SCPI command set), one instance per SMU role.

The ``read_smu`` sources the read voltage on the routed bit line and measures its current; the
``gate_smu`` sources the word-line voltage (which sets the access transistors' on-resistance in
the die model) and measures the gate leakage. Readings clamp at the current limit
(``:SOUR:VOLT:ILIM``) and set the trip flag (``:SOUR:VOLT:ILIM:TRIP?``).

What a client reaches follows the 2450 reference manual (2450-901-01): identification and
``*LANG?`` (SCPI), the IEEE 488.2 status model and error queue (see :mod:`.scpi`), source and
measure settings, source lists and sweeps (``:SOUR:LIST:VOLT``, ``:SOUR:SWE:VOLT:LIN|LIN:STEP|
LOG|LIST``), reading buffers (``:TRAC:MAKE``, ``:TRAC:DATA?`` with element lists, ...) and the
predefined trigger models (``:TRIG:LOAD "SimpleLoop"|"DurationLoop"|"LoopUntilEvent"|"Empty"``,
``:INIT``, ``:ABOR``, ``*TRG``, ``:TRIG:STAT?``). Every trigger model runs to completion within
the command that starts it (vectorised: each read-SMU reading also advances the row/column
controller's scan), except ``LoopUntilEvent``, which runs until its event.

Accepted but not modelled (docs/instruments-emulation.md lists them with their manual
sections): current sourcing (readings return 9.91E37 and push -221), measurement ranges and
filters, delays, source read-back; the 2400-dialect commands PyMeasure's ``KeithleyBuffer`` sends
(``:STAT:MEAS:ENAB``, ``:TRAC:FEED``) are accepted so its buffer flow can be exercised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from numpy.typing import NDArray

from labctl.core.roles import Role
from labctl.sim.faults import InstrumentFaults
from labctl.sim.servers.reading_buffers import (
    MAX_BUFFER_CAPACITY,
    BufferSet,
    ReadingBuffer,
    parse_elements,
)
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
    SenseFunction,
    SmuState,
    SourceFunction,
    StationState,
)

FloatArray = NDArray[np.float64]

FIRMWARE_VERSION = "1.7.12b"
#: The 2450's "not a number" reading (overflow, no measurement).
NAN_READING = 9.91e37
#: Time per reading besides integration (s), for the buffer's relative timestamps.
_READING_OVERHEAD_S = 200e-6
_POWER_LINE_HZ = 60.0
#: Command sets of ``*LANG``; only SCPI is emulated.
LANGUAGES = ("SCPI", "SCPI2400", "TSP")
#: Bit 9 of the 2400-dialect measurement event register: the reading buffer is full.
MEASUREMENT_BUFFER_FULL = 512
_MAX_SOURCE_LIST = 2500
_MAX_COUNT = 300_000

_SOURCE_FUNCTIONS: dict[str, SourceFunction] = {"VOLTage": "VOLT", "CURRent": "CURR"}
_SENSE_FUNCTIONS: dict[str, SenseFunction] = {
    "CURRent[:DC]": "CURR",
    "VOLTage[:DC]": "VOLT",
    "RESistance": "RES",
}
_SENSE_REPLY = {"CURR": '"CURR:DC"', "VOLT": '"VOLT:DC"', "RES": '"RES"'}
_UNITS = {"CURR": "Amp DC", "VOLT": "Volt DC", "RES": "Ohm"}
_SOURCE_LIMITS = {"VOLT": 210.0, "CURR": 1.05}


@dataclass
class TriggerModel:
    """A loaded trigger model: its body runs at ``:INIT`` (or when ``event`` occurs)."""

    name: str
    blocks: int  # the block the model ends at, reported by :TRIG:STAT?
    body: Callable[[], None] | None = None
    event: str | None = None  # LoopUntilEvent: the event that ends the loop


EMPTY_MODEL = TriggerModel("Empty", 0)


class Keithley2450Instrument(ScpiInstrument):
    """One emulated 2450; ``role`` is ``read_smu`` or ``gate_smu``."""

    def __init__(self, state: StationState, role: Role, serial: str) -> None:
        if role not in (Role.READ_SMU, Role.GATE_SMU):
            raise ValueError(f"unknown SMU role {role!r}")
        super().__init__(state.lock)
        self.state = state
        self.role = role
        self.serial = serial
        self.language = "SCPI"
        self.buffers = BufferSet()
        self.model = EMPTY_MODEL
        self.trigger_state = "EMPTY"
        self.trigger_block = 0
        self.source_lists: dict[SourceFunction, list[float]] = {"VOLT": [], "CURR": []}
        self.measurement_event = 0  # 2400-dialect measurement event register
        self.measurement_enable = 0
        self._measure: Callable[[int], FloatArray] = (
            state.measure_read_current_A if role == Role.READ_SMU else state.measure_gate_current_A
        )
        #: Acquisition faults (contact loss, current spikes), attached by start_sim_station.
        self.faults: InstrumentFaults | None = None
        self._register_commands()

    @property
    def settings(self) -> SmuState:
        return self.state.smus[self.role]

    @property
    def buffer(self) -> ReadingBuffer:
        """``defbuffer1``, where readings go unless a command names another buffer."""
        return self.buffers.get(None)

    # --- ScpiInstrument -------------------------------------------------------------------------
    def identity(self) -> str:
        return f"KEITHLEY INSTRUMENTS,MODEL 2450,{self.serial},{FIRMWARE_VERSION}"

    def reset(self) -> None:
        """*RST: settings, buffers, source lists and trigger model to defaults (status kept)."""
        self.state.smus[self.role] = SmuState()
        self.buffers = BufferSet()
        self.model = EMPTY_MODEL
        self.trigger_state = "EMPTY"
        self.trigger_block = 0
        self.source_lists = {"VOLT": [], "CURR": []}

    def clear_status(self) -> None:
        super().clear_status()
        self.measurement_event = 0

    def preset_status(self) -> None:
        self.measurement_enable = 0

    def summary_bits(self) -> int:
        """MSB (bit 0): an enabled event of the measurement register (buffer full)."""
        return 1 if self.measurement_event & self.measurement_enable else 0

    # --- acquisition ----------------------------------------------------------------------------
    def acquire(self, n_points: int, buffer: ReadingBuffer | None = None) -> FloatArray:
        """n readings as the front panel would show them (clamped), stored in ``buffer``."""
        smu = self.settings
        if smu.source_function != "VOLT":
            self.push_error(ScpiError(SETTINGS_CONFLICT, "current sourcing is not emulated"))
            readings = np.full(n_points, NAN_READING)
        else:
            current_A = self._measure_with_faults(n_points)
            limit_A = smu.current_limit_A
            smu.tripped = bool(np.any(np.abs(current_A) > limit_A))
            current_A = np.clip(current_A, -limit_A, limit_A)
            readings = self._as_sense_function(current_A, smu)
        period_s = smu.nplc / _POWER_LINE_HZ + _READING_OVERHEAD_S
        target = self.buffer if buffer is None else buffer
        source_value = smu.source_voltage_V if smu.source_function == "VOLT" else (
            smu.source_current_A
        )
        target.append(
            readings,
            np.asarray(source_value),
            period_s,
            _UNITS[smu.sense_function],
            _UNITS[smu.source_function],
        )
        if self.buffer.full:
            self.measurement_event |= MEASUREMENT_BUFFER_FULL
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

    @property
    def _count(self) -> int:
        """``:SENS:COUN``: readings per :READ?, :MEAS? and :TRAC:TRIG."""
        return int(self.settings.extra.get("[:SENSe]:COUNt", "1"))

    # --- command table --------------------------------------------------------------------------
    def _register_commands(self) -> None:
        add = self.table.add
        add("*LANG", self._set_language, self._no_params(lambda: self.language))
        add(":SYSTem:LFRequency", on_query=self._no_params(lambda: f"{_POWER_LINE_HZ:g}"))
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
        self._register_source_lists_and_sweeps()
        self._register_buffer_commands()
        self._register_status_commands()

    def _register_stored_settings(self) -> None:
        """Settings a driver may send and read back but that do not change the readings."""

        def as_number(token: str) -> str:
            return format_float(
                parse_float(token, named={"MINimum": 0.0, "MAXimum": 1e3, "DEFault": 0.0})
            )

        def as_bool(token: str) -> str:
            return format_bool(parse_bool(token))

        for function in ("VOLTage", "CURRent"):
            self._stored(f":SOURce:{function}:RANGe", "2.100000E+01", as_number)
            self._stored(f":SOURce:{function}:RANGe:AUTO", "1", as_bool)
            self._stored(f":SOURce:{function}:DELay", "0.000000E+00", as_number)
            self._stored(f":SOURce:{function}:DELay:AUTO", "1", as_bool)
            self._stored(f":SOURce:{function}:READ:BACK", "1", as_bool)
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
            self._stored(f"[:SENSe]:{function}:AZERo[:STATe]", "1", as_bool)
            self._stored(f"[:SENSe]:{function}:RSENse", "0", as_bool)
            self._stored(f"[:SENSe]:{function}:AVERage[:STATe]", "0", as_bool)
            self._stored(
                f"[:SENSe]:{function}:AVERage:COUNt", "10", lambda t: str(parse_int(t, 1, 100))
            )
            self._stored(
                f"[:SENSe]:{function}:AVERage:TCONtrol",
                "REP",
                lambda t: parse_choice(t, {"REPeat": "REP", "MOVing": "MOV"}),
            )
        self._stored("[:SENSe]:COUNt", "1", lambda t: str(parse_int(t, 1, _MAX_COUNT)))
        self._stored(
            ":ROUTe:TERMinals", "FRON", lambda t: parse_choice(t, {"FRONt": "FRON", "REAR": "REAR"})
        )
        self.table.add("[:SENSe]:AZERo:ONCE", on_set=self._no_params(lambda: None))

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
        add(":MEASure", on_query=self._read)
        for function, sense in _SENSE_FUNCTIONS.items():
            add(f":MEASure:{function}", on_query=self._measure_function(sense))
        add(":FETCh", on_query=self._fetch)
        add(":TRACe:TRIGger", on_set=self._trace_trigger)
        add(":INITiate[:IMMediate]", on_set=self._no_params(self._initiate))
        add(":ABORt", on_set=self._no_params(self._abort))
        add("*TRG", on_set=self._no_params(lambda: self._event("COMM")))
        add(":TRIGger:LOAD", on_set=self._load_trigger_model)
        add(":TRIGger:STATe", on_query=self._no_params(self._trigger_state_reply))

    def _register_source_lists_and_sweeps(self) -> None:
        add = self.table.add
        for keyword, function in _SOURCE_FUNCTIONS.items():
            add(
                f":SOURce:LIST:{keyword}[:LIST]",
                self._source_list_setter(function, append=False),
                self._no_params(partial(self._source_list_reply, function)),
            )
            add(f":SOURce:LIST:{keyword}:APPend", self._source_list_setter(function, append=True))
            add(
                f":SOURce:LIST:{keyword}:POINts",
                on_query=self._no_params(partial(self._source_list_points, function)),
            )
            add(f":SOURce:SWEep:{keyword}:LINear", on_set=self._sweep_setter(function, "LIN"))
            add(
                f":SOURce:SWEep:{keyword}:LINear:STEP",
                on_set=self._sweep_setter(function, "STEP"),
            )
            add(f":SOURce:SWEep:{keyword}:LOG", on_set=self._sweep_setter(function, "LOG"))
            add(f":SOURce:SWEep:{keyword}:LIST", on_set=self._list_sweep_setter(function))

    def _register_buffer_commands(self) -> None:
        add = self.table.add
        add(":TRACe:MAKE", on_set=self._make_buffer)
        add(":TRACe:DELete", on_set=self._one_param(self._delete_buffer))
        add(":TRACe:CLEar", on_set=self._clear_buffer)
        add(
            ":TRACe:POINts",
            self._set_capacity,
            self._buffer_query(lambda b: str(b.capacity)),
        )
        add(
            ":TRACe:FILL:MODE",
            self._set_fill_mode,
            self._buffer_query(lambda b: "ONCE" if b.fill_once else "CONT"),
        )
        add(":TRACe:ACTual", on_query=self._buffer_query(lambda b: str(len(b))))
        add(":TRACe:ACTual:STARt", on_query=self._buffer_query(lambda b: "1" if len(b) else "0"))
        add(":TRACe:ACTual:END", on_query=self._buffer_query(lambda b: str(len(b))))
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
        add(
            ":FORMat[:DATA]",
            on_set=self._one_param(lambda p: parse_choice(p, {"ASCii": 1})),
            on_query=self._no_params(lambda: "ASC"),
        )

    def _register_status_commands(self) -> None:
        """The 2450's status subsystem, and the 2400-dialect commands PyMeasure sends."""
        add = self.table.add
        add(":STATus:CLEar", on_set=self._no_params(self.clear_status))
        for register in ("OPERation", "QUEStionable"):
            add(f":STATus:{register}[:EVENt]", on_query=self._no_params(lambda: "0"))
            add(f":STATus:{register}:CONDition", on_query=self._no_params(lambda: "0"))
            self._stored(f":STATus:{register}:ENABle", "0", lambda t: str(parse_int(t, 0, 65535)))
        add(
            ":STATus:MEASurement:ENABle",
            self._set_measurement_enable,
            self._no_params(lambda: str(self.measurement_enable)),
        )
        add(":STATus:MEASurement[:EVENt]", on_query=self._no_params(self._read_measurement_event))
        add(
            ":TRACe:FEED",
            on_set=self._one_param(
                lambda p: parse_choice(p, {"SENSe[1]": 1, "CALCulate[1]": 2, "NONE": 0})
            ),
        )
        add(
            ":TRACe:FEED:CONTrol",
            on_set=self._one_param(lambda p: parse_choice(p, {"NEXT": 1, "NEVer": 0, "ALWays": 2})),
        )
        add(":SYSTem:BEEPer[:IMMediate]", on_set=self._beep)

    # --- handlers: settings ---------------------------------------------------------------------
    def _set_language(self, params: list[str]) -> None:
        expect_params(params, 1)
        language = unquote(params[0]).upper()
        if language not in LANGUAGES:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"command set {language[:20]}")
        if language != "SCPI":
            raise ScpiError(SETTINGS_CONFLICT, f"{language}: only SCPI is emulated")
        self.language = language

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

    # --- handlers: measurements -----------------------------------------------------------------
    def _read(self, params: list[str]) -> str:
        """:READ? / :MEAS? [<buffer>[, <element>...]]: :SENS:COUN readings, the last returned."""
        buffer, elements = self._buffer_and_elements(params)
        self.acquire(self._count, buffer)
        return buffer.format_points(len(buffer), len(buffer), elements)

    def _measure_function(self, sense: SenseFunction) -> Callable[[list[str]], str]:
        """:MEASure:<function>? selects the measure function, then measures."""

        def handler(params: list[str]) -> str:
            self.settings.sense_function = sense
            return self._read(params)

        return handler

    def _fetch(self, params: list[str]) -> str:
        buffer, elements = self._buffer_and_elements(params)
        if not len(buffer):
            raise ScpiError(SETTINGS_CONFLICT, "buffer is empty")
        return buffer.format_points(len(buffer), len(buffer), elements)

    def _trace_trigger(self, params: list[str]) -> None:
        expect_params(params, 0, 1)
        self.acquire(self._count, self.buffers.get(params[0] if params else None))

    def _buffer_and_elements(self, params: list[str]) -> tuple[ReadingBuffer, list[str]]:
        """[<buffer>[, <element>...]] -> the buffer and element names (READ by default)."""
        buffer = self.buffers.get(params[0] if params else None)
        return buffer, parse_elements(params[1:])

    # --- handlers: trigger model ----------------------------------------------------------------
    def _load_trigger_model(self, params: list[str]) -> None:
        expect_params(params, 1, 6)
        name = unquote(params[0]).upper()
        args = params[1:]
        if name == "EMPTY":
            expect_params(args, 0)
            self._set_model(EMPTY_MODEL)
        elif name == "SIMPLELOOP":  # <count>[, <delay>[, <bufferName>]]
            expect_params(args, 1, 3)
            count = parse_int(args[0], 1, MAX_BUFFER_CAPACITY)
            if len(args) > 1:
                parse_float(args[1], 0.0, 10_000.0)  # delay (s): the emulation does not wait
            buffer = self.buffers.name(args[2] if len(args) > 2 else None)
            self._set_model(
                TriggerModel("SimpleLoop", 4, lambda: self._loop(count, buffer))
            )
        elif name == "DURATIONLOOP":  # <duration>[, <delay>[, <bufferName>]]
            expect_params(args, 1, 3)
            duration_s = parse_float(args[0], 0.0, 100_000.0)
            if len(args) > 1:
                parse_float(args[1], 0.0, 10_000.0)
            buffer = self.buffers.name(args[2] if len(args) > 2 else None)
            self._set_model(
                TriggerModel("DurationLoop", 5, lambda: self._duration_loop(duration_s, buffer))
            )
        elif name == "LOOPUNTILEVENT":  # <event>, <position>, <clear>, <delay>, <bufferName>
            expect_params(args, 2, 5)
            event = self._event_name(args[0])
            position = parse_int(args[1], 0, 100)
            if len(args) > 2:
                parse_choice(args[2], {"ENTer": "ENT", "NEVer": "NEV"})
            if len(args) > 3:
                parse_float(args[3], 0.0, 10_000.0)
            buffer = self.buffers.name(args[4] if len(args) > 4 else None)
            self._set_model(
                TriggerModel(
                    "LoopUntilEvent",
                    7,
                    lambda: self._after_event(position, buffer),
                    event=event,
                )
            )
        else:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"trigger model {name[:40]} is not emulated")

    def _set_model(self, model: TriggerModel) -> None:
        if self.trigger_state == "RUNNING":
            raise ScpiError(SETTINGS_CONFLICT, "trigger model is running")
        self.model = model
        self.trigger_state = "EMPTY" if model.body is None else "IDLE"
        self.trigger_block = 0

    @staticmethod
    def _event_name(token: str) -> str:
        event = unquote(token).upper()
        if not event.isalnum():
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"event {event[:20]}")
        return "COMM" if event in ("COMM", "COMMAND") else event

    def _initiate(self) -> None:
        if self.model.body is None:
            return  # the empty model has nothing to run
        if self.trigger_state == "RUNNING":
            raise ScpiError(SETTINGS_CONFLICT, "trigger model is already running")
        if self.model.event is not None:
            self.trigger_state = "RUNNING"
            self.trigger_block = 1
            return
        self.model.body()
        self._finish_model("IDLE")

    def _event(self, event: str) -> None:
        """A trigger event (``*TRG`` is COMM): it ends a LoopUntilEvent waiting for it."""
        if self.trigger_state == "RUNNING" and self.model.event == event and self.model.body:
            self.model.body()
            self._finish_model("IDLE")

    def _abort(self) -> None:
        if self.trigger_state == "RUNNING":
            self._finish_model("ABORTED")

    def _finish_model(self, state: str) -> None:
        self.trigger_state = state
        self.trigger_block = self.model.blocks

    def _trigger_state_reply(self) -> str:
        return f"{self.trigger_state};{self.trigger_state};{self.trigger_block}"

    def _loop(self, count: int, buffer_name: str) -> None:
        self.acquire(count, self.buffers.get(buffer_name))

    def _duration_loop(self, duration_s: float, buffer_name: str) -> None:
        period_s = self.settings.nplc / _POWER_LINE_HZ + _READING_OVERHEAD_S
        count = min(max(1, int(duration_s / period_s)), MAX_BUFFER_CAPACITY)
        self.acquire(count, self.buffers.get(buffer_name))

    def _after_event(self, position: int, buffer_name: str) -> None:
        """The readings LoopUntilEvent makes after its event: ``position`` % of the buffer."""
        buffer = self.buffers.get(buffer_name)
        count = round(buffer.capacity * position / 100)
        if count:
            self.acquire(count, buffer)

    # --- handlers: source lists and sweeps ------------------------------------------------------
    def _source_list_setter(
        self, function: SourceFunction, append: bool
    ) -> Callable[[list[str]], None]:
        limit = _SOURCE_LIMITS[function]

        def handler(params: list[str]) -> None:
            expect_params(params, 1, _MAX_SOURCE_LIST)
            values = [parse_float(p, -limit, limit) for p in params]
            current = self.source_lists[function] if append else []
            if len(current) + len(values) > _MAX_SOURCE_LIST:
                raise ScpiError(DATA_OUT_OF_RANGE, f"more than {_MAX_SOURCE_LIST} list points")
            self.source_lists[function] = current + values

        return handler

    def _source_list_points(self, function: SourceFunction) -> str:
        return str(len(self.source_lists[function]))

    def _source_list_reply(self, function: SourceFunction) -> str:
        return ",".join(format_float(v) for v in self.source_lists[function])

    def _sweep_setter(self, function: SourceFunction, kind: str) -> Callable[[list[str]], None]:
        """:SOUR:SWE:<function>:LIN|LIN:STEP|LOG <start>, <stop>, <points|step>[, <delay>
        [, <count>[, <rangeType>[, <failAbort>[, <dual>[, <bufferName>]]]]]]."""
        limit = _SOURCE_LIMITS[function]

        def handler(params: list[str]) -> None:
            expect_params(params, 3, 10 if kind == "LOG" else 9)
            start = parse_float(params[0], -limit, limit)
            stop = parse_float(params[1], -limit, limit)
            if kind == "STEP":
                step = parse_float(params[2])
                if step == 0 or (stop - start) * step < 0:
                    raise ScpiError(ILLEGAL_PARAMETER_VALUE, "step does not reach stop")
                points = int(np.floor(abs(stop - start) / abs(step) + 1e-9)) + 1
                values = start + step * np.arange(points)
            else:
                points = parse_int(params[2], 2, _MAX_SOURCE_LIST)
                if kind == "LOG":
                    if start * stop <= 0:
                        raise ScpiError(ILLEGAL_PARAMETER_VALUE, "log sweep crosses zero")
                    values = np.sign(start) * np.geomspace(abs(start), abs(stop), points)
                else:
                    values = np.linspace(start, stop, points)
            rest = params[3:]
            delay_count_abort = self._sweep_options(rest[:2] + rest[3:4])
            if len(rest) > 2:
                parse_choice(rest[2], {"AUTO": 0, "BEST": 1, "FIXed": 2})
            dual = parse_bool(rest[4]) if len(rest) > 4 else False
            buffer = self.buffers.name(rest[5] if len(rest) > 5 else None)
            if dual:
                values = np.concatenate([values, values[::-1]])
            source_points = np.asarray(values, dtype=np.float64)
            self._load_sweep(function, source_points, *delay_count_abort, buffer)

        return handler

    def _list_sweep_setter(self, function: SourceFunction) -> Callable[[list[str]], None]:
        """:SOUR:SWE:<function>:LIST <startIndex>[, <delay>[, <count>[, <failAbort>
        [, <bufferName>]]]] over the source list (``:SOUR:LIST:<function>``)."""

        def handler(params: list[str]) -> None:
            expect_params(params, 1, 5)
            source_list = self.source_lists[function]
            if not source_list:
                raise ScpiError(SETTINGS_CONFLICT, "the source list is empty")
            start_index = parse_int(params[0], 1, len(source_list))
            options = self._sweep_options(params[1:4])
            buffer = self.buffers.name(params[4] if len(params) > 4 else None)
            values = np.asarray(source_list[start_index - 1 :], dtype=np.float64)
            self._load_sweep(function, values, *options, buffer)

        return handler

    @staticmethod
    def _sweep_options(params: list[str]) -> tuple[int, bool]:
        """[<delay>[, <count>[, <failAbort>]]] -> (count, fail_abort); the delay is not waited."""
        if params:
            parse_float(params[0], -1.0, 10_000.0)  # -1: auto delay
        count = 1
        if len(params) > 1:
            if unquote(params[1]).upper() in ("INF", "INFINITE"):
                raise ScpiError(ILLEGAL_PARAMETER_VALUE, "an infinite sweep is not emulated")
            count = parse_int(params[1], 1, _MAX_COUNT)
        fail_abort = parse_bool(params[2]) if len(params) > 2 else True
        return count, fail_abort

    def _load_sweep(
        self,
        function: SourceFunction,
        values: FloatArray,
        count: int,
        fail_abort: bool,
        buffer_name: str,
    ) -> None:
        if self.settings.source_function != function:
            raise ScpiError(SETTINGS_CONFLICT, f"the source function is not {function}")
        if values.size * count > MAX_BUFFER_CAPACITY:
            raise ScpiError(DATA_OUT_OF_RANGE, "sweep longer than the largest buffer")
        body = partial(self._run_sweep, function, values, count, fail_abort, buffer_name)
        self._set_model(TriggerModel("Sweep", 9, body))

    def _run_sweep(
        self,
        function: SourceFunction,
        values: FloatArray,
        count: int,
        fail_abort: bool,
        buffer_name: str,
    ) -> None:
        """Clear the buffer, output on, one reading per source point, output off; the source
        level returns to its value before the sweep."""
        smu = self.settings
        buffer = self.buffers.get(buffer_name)
        buffer.clear()
        level_before = smu.source_voltage_V if function == "VOLT" else smu.source_current_A
        smu.output_on = True
        try:
            for _ in range(count):
                for value in values.tolist():
                    if function == "VOLT":
                        smu.source_voltage_V = value
                    else:
                        smu.source_current_A = value
                    self.acquire(1, buffer)
                    if fail_abort and smu.tripped:
                        return
        finally:
            smu.output_on = False
            if function == "VOLT":
                smu.source_voltage_V = level_before
            else:
                smu.source_current_A = level_before

    # --- handlers: buffers ----------------------------------------------------------------------
    def _make_buffer(self, params: list[str]) -> None:
        """:TRACe:MAKE <name>, <size>[, <style>]: STANdard and FULL styles (no writable ones)."""
        expect_params(params, 2, 3)
        capacity = parse_int(params[1], 1, MAX_BUFFER_CAPACITY)
        if len(params) > 2:
            parse_choice(params[2], {"STANdard": 0, "FULL": 1, "COMPact": 2})
        self.buffers.make(params[0], capacity)

    def _delete_buffer(self, token: str) -> None:
        self.buffers.delete(token)

    def _clear_buffer(self, params: list[str]) -> None:
        expect_params(params, 0, 1)
        self.buffers.get(params[0] if params else None).clear()

    def _set_capacity(self, params: list[str]) -> None:
        expect_params(params, 1, 2)
        self.buffers.resize(
            params[1] if len(params) == 2 else None, parse_int(params[0], 1, MAX_BUFFER_CAPACITY)
        )

    def _set_fill_mode(self, params: list[str]) -> None:
        expect_params(params, 1, 2)
        buffer = self.buffers.get(params[1] if len(params) == 2 else None)
        buffer.fill_once = parse_choice(params[0], {"CONTinuous": False, "ONCE": True})

    def _trace_data(self, params: list[str]) -> str:
        """:TRAC:DATA? <start>, <end>[, <buffer>[, <element>...]] (1-based, inclusive)."""
        if not params:  # legacy form: the whole of defbuffer1
            count = len(self.buffer)
            return self.buffer.format_points(1, count, ["READ"]) if count else ""
        expect_params(params, 2, 16)
        buffer, elements = self._buffer_and_elements(params[2:])
        count = len(buffer)
        if count == 0:
            raise ScpiError(DATA_OUT_OF_RANGE, "buffer is empty")
        start = parse_int(params[0], 1, count)
        end = parse_int(params[1], start, count)
        return buffer.format_points(start, end, elements)

    def _statistic_query(
        self, statistic: Callable[[FloatArray], float]
    ) -> Callable[[ReadingBuffer], str]:
        def query(buffer: ReadingBuffer) -> str:
            if not len(buffer):
                return format_float(NAN_READING)
            return format_float(statistic(buffer.readings))

        return query

    def _buffer_query(self, action: Callable[[ReadingBuffer], str]) -> Callable[[list[str]], str]:
        """A buffer query with an optional buffer-name parameter."""

        def handler(params: list[str]) -> str:
            expect_params(params, 0, 1)
            return action(self.buffers.get(params[0] if params else None))

        return handler

    # --- handlers: status -----------------------------------------------------------------------
    def _set_measurement_enable(self, params: list[str]) -> None:
        expect_params(params, 1)
        self.measurement_enable = parse_int(params[0], 0, 65535)

    def _read_measurement_event(self) -> str:
        value, self.measurement_event = self.measurement_event, 0
        return str(value)

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

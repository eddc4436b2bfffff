"""The die's row/column addressing board (labctl protocol, docs/array-controller-protocol.md)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
from pymeasure.instruments import Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from drivers.allow_list import (
    Allowed,
    AllowList,
    ArgumentCheck,
    TextOnly,
    any_argument,
    bits,
    choice,
    index_pairs,
    integer,
    no_argument,
    number,
    parse_strict_number,
    refuse_control_characters,
)
from drivers.interlock import refuse_above_limit
from drivers.scpi import segment_headers, strict_check_errors
from drivers.terminations import with_line_terminations
from labctl.core.errors import InstrumentError, SafetyError
from labctl.core.limits import (
    READ_VOLTAGE_CEILING_V,
    WRITE_VOLTAGE_CEILING_V,
    WRITE_WIDTH_RANGE_s,
    tightest,
)

#: Hardware ranges of the controller (its own limits; the station's limits are tighter).
PULSE_AMPLITUDE_RANGE_V = (0.0, 2.0)
PULSE_WIDTH_RANGE_s = (1e-9, 1e-3)
INPUT_VOLTAGE_RANGE_V = (0.0, 0.5)
#: Largest tile / row / column index the protocol carries.
MAX_INDEX = 65535
TARGET_STATES = ("P", "AP")
SCAN_MODES = ("CELL", "ROW", "TILE", "INFER", "LIST", "BATCH")
#: Input vectors the controller's batch memory holds (``INP:BATC``, read by ``SCAN:MODE BATCH``).
MAX_BATCH_VECTORS = 1024
#: Longest line the controller reads (bytes, terminator included); batches are split below it.
MAX_LINE_BYTES = 65536
#: Sense groups the bit lines can be split into (one per read channel).
MAX_SENSE_GROUPS = 16
#: Most cells one ``SCAN:LIST`` may name.
MAX_SCAN_LIST_CELLS = 4096
#: Watchdog timeouts the protocol carries (s); 0 disarms it.
WATCHDOG_RANGE_s = (0.0, 3600.0)

_BITS = re.compile(r"^[01]+$")


def bits_to_string(bits: str | Iterable[Any]) -> str:
    """A bit vector as the protocol's string (``0`` = P / input low, ``1`` = AP / input high).

    Accepts a string of 0/1 or any iterable of bools or 0/1 integers (e.g. a numpy array).
    """
    if isinstance(bits, str):
        text = bits
    else:
        values = np.asarray(list(bits) if not isinstance(bits, np.ndarray) else bits)
        if values.ndim != 1 or not np.isin(values, (0, 1)).all():
            raise ValueError("bits must be a 1-D sequence of 0/1 or bool values")
        text = "".join("1" if value else "0" for value in values.tolist())
    if not _BITS.match(text):
        raise ValueError(f"bits must be a non-empty string of 0 and 1, got {text[:40]!r}")
    return text


def _on_off(reply: Any) -> str:
    return "ON" if str(reply).strip().upper() in ("1", "ON") else "OFF"


def _target_state(target: str) -> str:
    state = str(target).upper()
    strict_discrete_set(state, TARGET_STATES)
    return state


class ArrayController(TextOnly, SCPIMixin, Instrument):
    """Row/column controller of a 1T-1MTJ crossbar die: selection, write pulses, scans, inputs.

    Interlocks, checked in :meth:`write` before anything is sent: only the commands of
    :data:`CONTROLLER_COMMANDS` may be sent, as printable ASCII; a pulse amplitude above
    ``max_write_voltage_V`` is refused, a write is refused while the amplitude set through the
    driver is unknown or above that limit, an input voltage above ``max_input_voltage_V`` and a
    pulse width outside the ceiling range are refused. ``None`` leaves a limit at its ceiling
    (:mod:`labctl.core.limits`), which no setting can raise.
    """

    def __init__(
        self,
        adapter: Any,
        name: str = "MTJ array controller",
        max_write_voltage_V: float | None = None,
        max_input_voltage_V: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(adapter, name, **with_line_terminations(kwargs))
        self.max_write_voltage_V = max_write_voltage_V
        self.max_input_voltage_V = max_input_voltage_V
        self._pulse_amplitude_V: float | None = None

    tile_count = Instrument.measurement(
        "NTIL?", """Get the number of crossbar tiles on the die (int).""", cast=int
    )

    tile = Instrument.control(
        "TILE?", "TILE %d", """Control the selected tile (int).""",
        validator=strict_discrete_set, values=range(MAX_INDEX + 1), cast=int,
    )

    row = Instrument.control(
        "ROW?", "ROW %d", """Control the selected row (word line) of the tile (int).""",
        validator=strict_discrete_set, values=range(MAX_INDEX + 1), cast=int,
    )

    column = Instrument.control(
        "COL?", "COL %d", """Control the selected column (bit line) of the tile (int).""",
        validator=strict_discrete_set, values=range(MAX_INDEX + 1), cast=int,
    )

    pulse_amplitude = Instrument.control(
        "PULS:AMPL?", "PULS:AMPL %g",
        """Control the write-pulse amplitude magnitude in V (0 ... 2 V; the station's
        ``max_write_voltage_V`` refuses more).""",
        validator=strict_range, values=PULSE_AMPLITUDE_RANGE_V,
    )

    pulse_width = Instrument.control(
        "PULS:WIDT?", "PULS:WIDT %g",
        """Control the write-pulse width in s (1 ns ... 1 ms; the interlock refuses more than
        the ceiling of ``labctl.core.limits.WRITE_WIDTH_RANGE_s``).""",
        validator=strict_range, values=PULSE_WIDTH_RANGE_s,
    )

    routed = Instrument.control(
        "ROUT?", "ROUT %s",
        """Control whether the selected bit line is connected to the read SMU and the selected
        row's word line enabled (bool).""",
        validator=strict_discrete_set, values={True: "ON", False: "OFF"}, map_values=True,
        cast=str, get_process=_on_off,
    )

    scan_mode = Instrument.control(
        "SCAN:MODE?", "SCAN:MODE %s",
        """Control what each read-SMU trigger addresses: CELL, ROW, TILE or INFER (str).""",
        validator=strict_discrete_set, values=SCAN_MODES, cast=str,
    )

    scan_index = Instrument.measurement(
        "SCAN:IDX?", """Get the scan index the next trigger reads (int).""", cast=int
    )

    sense_groups = Instrument.control(
        "SENS:GRO?", "SENS:GRO %d",
        """Control how many sense groups the bit lines of the selected tile are split into (one
        per read channel, 1 ... 16): ROW and TILE scans then read every group at once, channel k
        stepping through its own group's columns.""",
        validator=strict_discrete_set, values=range(1, MAX_SENSE_GROUPS + 1), cast=int,
    )

    scan_list_count = Instrument.measurement(
        "SCAN:LIST:COUN?", """Get the number of cells in the scan list (int).""", cast=int
    )

    def set_scan_list(self, cells: Iterable[tuple[int, int]]) -> None:
        """The cells (row, column) a ``LIST`` scan reads, one per trigger, in this order."""
        pairs = [(int(r), int(c)) for r, c in cells]
        if not 1 <= len(pairs) <= MAX_SCAN_LIST_CELLS:
            raise ValueError(f"a scan list holds 1 ... {MAX_SCAN_LIST_CELLS} cells, "
                             f"got {len(pairs)}")
        if any(not (0 <= v <= MAX_INDEX) for pair in pairs for v in pair):
            raise ValueError(f"scan list indices must lie in 0 ... {MAX_INDEX}")
        self.write("SCAN:LIST " + ",".join(f"{r},{c}" for r, c in pairs))

    input_voltage = Instrument.control(
        "INP:VOLT?", "INP:VOLT %g",
        """Control the row drive voltage for inference in V (0 ... 0.5 V).""",
        validator=strict_range, values=INPUT_VOLTAGE_RANGE_V,
    )

    def verified_geometry(self, tile: int) -> tuple[int, int]:
        """(rows, columns) of tile ``tile``, asked twice in one message: both answers must agree
        (a garbled geometry would misplace every reading of the tile)."""
        strict_discrete_set(tile, range(MAX_INDEX + 1))
        first, second = self._asked_twice(f"GEOM? {tile:d}")
        if first != second:
            raise InstrumentError(f"{self.name}: inconsistent replies to GEOM? {tile}")
        try:
            rows, cols = (int(v) for v in first.split(","))
        except ValueError:
            raise InstrumentError(f"{self.name}: garbled reply to GEOM? {tile}: "
                                  f"{first[:40]!r}") from None
        if rows < 1 or cols < 1:
            raise InstrumentError(f"{self.name}: impossible geometry {rows} x {cols}")
        return rows, cols

    def verified_tile_count(self) -> int:
        """The number of tiles, asked twice in one message; both answers must agree."""
        first, second = self._asked_twice("NTIL?")
        if first != second or not first.strip().isdigit() or int(first) < 1:
            raise InstrumentError(f"{self.name}: garbled replies to NTIL?: {first!r}, {second!r}")
        return int(first)

    def _asked_twice(self, query: str) -> tuple[str, str]:
        parts = str(self.ask(f"{query};{query}")).strip().split(";")
        if len(parts) != 2:
            raise InstrumentError(f"{self.name}: garbled reply to {query}")
        return parts[0].strip(), parts[1].strip()

    def check_errors(self) -> list[list[Any]]:
        """Drain the error queue; a reply that is not a queue entry raises InstrumentError."""
        return strict_check_errors(self)

    def check_command(self, command: str) -> None:
        """Raise SafetyError if the interlocks refuse ``command`` (nothing is changed)."""
        self._pulse_amplitude_after(command)

    def reset_interlock_state(self) -> None:
        """Forget the pulse amplitude (the controller may have restarted): writes stay refused
        until an amplitude is sent again."""
        self._pulse_amplitude_V = None

    def geometry(self, tile: int) -> tuple[int, int]:
        """(rows, columns) of tile ``tile``."""
        strict_discrete_set(tile, range(MAX_INDEX + 1))
        reply = self.values(f"GEOM? {tile:d}", cast=int)
        if len(reply) != 2:
            raise ValueError(f"{self.name}: unexpected reply to GEOM?: {reply!r}")
        return int(reply[0]), int(reply[1])

    def write_cell(self, target: str) -> None:
        """One pulse to the selected cell towards ``target`` (``"P"`` or ``"AP"``)."""
        self.write(f"WRIT:CELL {_target_state(target)}")

    def write_row(self, bits: str | Iterable[Any]) -> None:
        """Pulses to the selected row, one bit per column (0 = P, 1 = AP)."""
        self.write(f"WRIT:ROW {bits_to_string(bits)}")

    def write_cells(self, cells: Iterable[tuple[int, int]], target: str) -> None:
        """One pulse to each listed cell (row, column) towards ``target``, in one message
        (``:ROW r;:COL c;:WRIT:CELL t`` per cell, absolute headers so that no ``ROW`` reads as
        ``WRIT:ROW``; the selection ends on the last cell)."""
        state = _target_state(target)
        segments = [f":ROW {int(r):d};:COL {int(c):d};:WRIT:CELL {state}" for r, c in cells]
        if segments:
            self.write(";".join(segments))

    def write_tile(self, target: str) -> None:
        """Pulses to every cell of the selected tile towards ``target``."""
        self.write(f"WRIT:TILE {_target_state(target)}")

    def reset_scan(self) -> None:
        """Reset the scan index to 0 (arm the next batched read)."""
        self.write("SCAN:RES")

    def apply_inputs(self, bits: str | Iterable[Any]) -> None:
        """Apply a binary input vector to the rows of the selected tile (one bit per row)."""
        self.write(f"INP {bits_to_string(bits)}")

    input_batch_count = Instrument.measurement(
        "INP:BATC:COUN?", """Get the number of input vectors in the batch memory (int).""",
        cast=int,
    )

    def clear_input_batch(self) -> None:
        """Empty the batch memory (re-arms the scan)."""
        self.write("INP:BATC:CLE")

    def append_input_batch(self, vectors: Iterable[str | Iterable[Any]]) -> int:
        """Append input vectors (one bit per row of the selected tile) to the batch memory, as
        few lines as the line limit allows; returns how many were sent. A ``BATCH`` scan then
        reads bit line i % cols of vector i // cols on trigger i."""
        texts = [bits_to_string(v) for v in vectors]
        if not 1 <= len(texts) <= MAX_BATCH_VECTORS:
            raise ValueError(f"a batch holds 1 ... {MAX_BATCH_VECTORS} vectors, got {len(texts)}")
        if len({len(t) for t in texts}) != 1:
            raise ValueError("every vector of a batch has one bit per row (same length)")
        per_line = max(1, (MAX_LINE_BYTES - 64) // (len(texts[0]) + 1))
        for start in range(0, len(texts), per_line):
            self.write("INP:BATC " + ",".join(texts[start : start + per_line]))
        return len(texts)

    def deselect(self) -> None:
        """Safe state: routing off, scan CELL, inputs cleared, pulse amplitude 0."""
        self.write("DESEL")

    def arm_watchdog(self, timeout_s: float) -> None:
        """Arm the watchdog: if no line arrives for ``timeout_s`` the controller de-routes every
        line (as ``DESEL``); 0 disarms it. Sent again, it also feeds it."""
        strict_range(timeout_s, WATCHDOG_RANGE_s)
        self.write(f"WDOG {timeout_s:g}")

    watchdog_trips = Instrument.measurement(
        "WDOG:TRIP?", """Get how often the watchdog expired since power-up (int).""", cast=int
    )

    def write(self, command: str, **kwargs: Any) -> None:
        """Send ``command`` after the interlocks accepted it (see the class docstring)."""
        amplitude_V = self._pulse_amplitude_after(command)
        super().write(command, **kwargs)
        self._pulse_amplitude_V = amplitude_V

    @property
    def write_limit_V(self) -> float:
        """Largest pulse amplitude accepted: the station's limit, never above the ceiling."""
        return tightest(self.max_write_voltage_V, WRITE_VOLTAGE_CEILING_V)

    @property
    def input_limit_V(self) -> float:
        """Largest inference input voltage accepted (the read limit, never above its ceiling)."""
        return tightest(self.max_input_voltage_V, READ_VOLTAGE_CEILING_V)

    def _pulse_amplitude_after(self, command: str) -> float | None:
        """Check ``command``; return the pulse amplitude it leaves on the controller."""
        refuse_control_characters(command, self.name)
        amplitude_V = self._pulse_amplitude_V
        for headers, argument in segment_headers(command):
            tags = CONTROLLER_COMMANDS.check(self, headers, argument)
            if "safe" in tags:
                amplitude_V = 0.0
            if "amplitude" in tags:
                amplitude_V = parse_strict_number(argument)
            if "write" in tags:
                if amplitude_V is None:
                    raise SafetyError(
                        f"{self.name}: write refused: pulse amplitude not set through the driver; "
                        "nothing was sent"
                    )
                refuse_above_limit(amplitude_V, self.write_limit_V, "write pulse amplitude")
        return amplitude_V


_INDEX = integer(0, MAX_INDEX)
_TARGET = choice(*TARGET_STATES)


def bit_vectors(max_vectors: int) -> ArgumentCheck:
    """A comma-separated list of 1 ... ``max_vectors`` bit strings of one length."""

    def check(driver: Any, argument: str) -> str | None:
        vectors = [v.strip() for v in argument.split(",")]
        if not 1 <= len(vectors) <= max_vectors:
            return f"must list 1 ... {max_vectors} bit vectors"
        if not all(_BITS.match(v) for v in vectors):
            return "vectors must be strings of 0 and 1"
        if len({len(v) for v in vectors}) != 1:
            return "vectors must all have the same length"
        return None

    return check

#: Everything labctl sends to the array controller (docs/array-controller-protocol.md); pulse
#: amplitude, width and input voltage are checked against the station's limits and ceilings.
CONTROLLER_COMMANDS = AllowList("array controller", [
    Allowed("*RST", no_argument, tag="safe"),
    Allowed("DESELect", no_argument, tag="safe"),
    Allowed("*CLS", no_argument),
    *(Allowed(header, _INDEX) for header in ("TILE", "ROW", "COLumn")),
    Allowed("PULSe:AMPLitude", number(lambda d: (0.0, d.write_limit_V), "V"), tag="amplitude"),
    Allowed("PULSe:WIDTh", number(lambda d: WRITE_WIDTH_RANGE_s, "s")),
    Allowed("WRITe:CELL", _TARGET, tag="write"),
    Allowed("WRITe:TILE", _TARGET, tag="write"),
    Allowed("WRITe:ROW", bits, tag="write"),
    Allowed("ROUTe[:STATe]", choice("ON", "OFF", "1", "0")),
    Allowed("SCAN:MODE", choice(*SCAN_MODES, "INF", "BATC")),
    Allowed("SCAN:RESet", no_argument),
    Allowed("SENSe:GROups", integer(1, MAX_SENSE_GROUPS)),
    Allowed("SCAN:LIST", index_pairs(MAX_INDEX, MAX_SCAN_LIST_CELLS)),
    Allowed("INPut:VOLTage", number(lambda d: (0.0, d.input_limit_V), "V")),
    Allowed("INPut[:BITS]", bits),
    Allowed("INPut:BATCh[:APPend]", bit_vectors(MAX_BATCH_VECTORS)),
    Allowed("INPut:BATCh:CLEar", no_argument),
    Allowed("WDOG", number(lambda d: WATCHDOG_RANGE_s, "s")),
    Allowed("WDOG:KICK", no_argument),
    *(Allowed(header, any_argument, query=True) for header in (
        "*IDN", "*OPC", "*STB", "*ESR", "SYSTem:ERRor[:NEXT]", "NTILes", "GEOMetry", "TILE", "ROW",
        "COLumn", "PULSe:AMPLitude", "PULSe:WIDTh", "ROUTe[:STATe]", "SCAN:MODE", "SCAN:IDX",
        "INPut:VOLTage", "INPut[:BITS]", "WDOG", "WDOG:TRIPs", "INPut:BATCh:COUNt",
        "SENSe:GROups", "SCAN:LIST:COUNt",
    )),
])

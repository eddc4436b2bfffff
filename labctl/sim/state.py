"""What the emulated instruments of the simulated station share, behind one lock.

The prober moves the chuck (which die is under the probes, at which height), the row/column
controller selects and routes cells, the two SMUs source voltages; a reading depends on all of
them at once, so they live here and every server holds :attr:`StationState.lock` while it
executes a request. The physics is the die model's (:mod:`labctl.sim.wafer`); this module only
decides which cells a trigger addresses and whether the circuit is closed at all.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from labctl.core.roles import Role
from labctl.core.wafer_map import WAFER_MAP
from labctl.sim.wafer import DieModel, VirtualWafer, noise_current_A

FloatArray = NDArray[np.float64]

ChuckHeight = Literal["contact", "align", "separation"]
SourceFunction = Literal["VOLT", "CURR"]
SenseFunction = Literal["CURR", "VOLT", "RES"]
ScanMode = Literal["CELL", "ROW", "TILE", "INFER", "LIST", "BATCH"]

#: Chuck z (um) at each named height: 0 at contact, negative below (gap to the probe tips).
CHUCK_Z_UM: dict[str, float] = {"contact": 0.0, "align": -50.0, "separation": -300.0}

#: Physical die pitch of the simulated wafer (um), also the prober's default index.
DIE_PITCH_UM = 15000.0

#: How far (um) the chuck may be off a die site and the probes still land on its pads.
PAD_TOLERANCE_UM = 1.0

#: Third seed word of the generator for readings with no die under the probes.
_OPEN_CIRCUIT_STREAM = 0x0FF


@dataclass
class ProberState:
    """Chuck position and the wafer-map stepping sequence of the Velox prober."""

    x_um: float = WAFER_MAP[0][0] * DIE_PITCH_UM  # chuck x, map origin (col 0, row 0) = 0
    y_um: float = WAFER_MAP[0][1] * DIE_PITCH_UM
    height: ChuckHeight = "separation"
    index_x_um: float = DIE_PITCH_UM  # the prober's die index (SetChuckIndex)
    index_y_um: float = DIE_PITCH_UM
    map_index: int = 0  # position in WAFER_MAP of the last die stepped to

    @property
    def z_um(self) -> float:
        return CHUCK_Z_UM[self.height]


@dataclass
class ControllerState:
    """Selection, routing, scan and pulse settings of the row/column controller."""

    tile: int = 0
    row: int = 0
    col: int = 0
    routed: bool = False
    scan_mode: ScanMode = "CELL"
    scan_index: int = 0
    input_bits: NDArray[np.bool_] | None = None  # None: all inputs off
    #: input vectors (n, rows) read one after the other by SCAN:MODE BATCh (None: empty).
    input_batch: NDArray[np.bool_] | None = None
    input_voltage_V: float = 0.1
    pulse_amplitude_V: float = 0.0
    pulse_width_s: float = 100e-9
    #: Sense groups the bit lines are split into (``SENS:GRO``): read channel k senses group k.
    sense_groups: int = 1
    #: Scan index of each extra read channel (channel 0's is ``scan_index``).
    channel_scan_index: dict[int, int] = field(default_factory=dict)
    #: Cells (rows, cols) of a ``LIST`` scan (``SCAN:LIST``), or None.
    scan_list: tuple[NDArray[np.intp], NDArray[np.intp]] | None = None
    #: Readings of one grouped scan period per channel, drawn for all channels at once by the
    #: first channel to trigger after arming: the readings (and the noise stream) then do not
    #: depend on which channel's acquisition runs first. Cleared on arming and on writes.
    group_readings: dict[int, FloatArray] = field(default_factory=dict)


def sense_group_columns(cols: int, groups: int, channel: int) -> tuple[int, int]:
    """[start, stop) columns of ``channel``'s group when ``cols`` bit lines are split into
    ``groups`` contiguous groups (start = k * cols // groups); empty beyond the last group."""
    if channel >= groups:
        return 0, 0
    return channel * cols // groups, (channel + 1) * cols // groups


@dataclass
class SmuState:
    """Source and measure settings of one Keithley 2450 (the *RST defaults)."""

    source_function: SourceFunction = "VOLT"
    source_voltage_V: float = 0.0
    source_current_A: float = 0.0
    current_limit_A: float = 105e-6
    voltage_limit_V: float = 21.0
    sense_function: SenseFunction = "CURR"
    nplc: float = 1.0
    output_on: bool = False
    tripped: bool = False  # the last acquisition hit the current limit
    extra: dict[str, str] = field(default_factory=dict)  # settings stored but not modelled

    @property
    def sourcing_voltage_V(self) -> float:
        """The voltage on the terminals: the source level when on in voltage mode, else 0."""
        if self.output_on and self.source_function == "VOLT":
            return self.source_voltage_V
        return 0.0


class StationState:
    """Shared state of the simulated station and the physics-facing operations on it."""

    def __init__(self, wafer: VirtualWafer) -> None:
        self.wafer = wafer
        self.lock = threading.RLock()
        self.prober = ProberState()
        self.controller = ControllerState()
        self.smus: dict[Role, SmuState] = {Role.READ_SMU: SmuState(), Role.GATE_SMU: SmuState()}
        #: Settings of the extra read channels (channel 1, 2, ...): more SMUs in the read role.
        self.extra_read_smus: dict[int, SmuState] = {}
        #: The probes slid off the pads (the ``contact_loss`` fault): an open circuit although
        #: the prober still reports contact height. Any chuck motion re-seats them.
        self.contact_lost = False
        self._open_rng = np.random.default_rng([wafer.seed, _OPEN_CIRCUIT_STREAM])

    # --- where the probes are -------------------------------------------------------------------
    @property
    def die_position(self) -> tuple[int, int] | None:
        """(col, row) of the die whose pads the probes are over, or None between dies."""
        with self.lock:
            col = round(self.prober.x_um / DIE_PITCH_UM)
            row = round(self.prober.y_um / DIE_PITCH_UM)
            off_x = abs(self.prober.x_um - col * DIE_PITCH_UM)
            off_y = abs(self.prober.y_um - row * DIE_PITCH_UM)
            if off_x > PAD_TOLERANCE_UM or off_y > PAD_TOLERANCE_UM:
                return None
            return (col, row) if (col, row) in WAFER_MAP else None

    @property
    def in_contact(self) -> bool:
        """True only when the chuck is at contact height with the probes on a die."""
        with self.lock:
            return self.contacted_die() is not None

    def contacted_die(self) -> DieModel | None:
        """The die model the probes touch, or None (open circuit)."""
        with self.lock:
            position = self.die_position
            if self.prober.height != "contact" or position is None or self.contact_lost:
                return None
            return self.wafer.die(*position)

    # --- controller -----------------------------------------------------------------------------
    def tile_shape(self, tile: int | None = None) -> tuple[int, int]:
        """(rows, cols) of a tile (default: the selected one), from the wafer's parameters."""
        k = self.controller.tile if tile is None else tile
        rows, cols = self.wafer.params.tile_shapes[k]
        return rows, cols

    @property
    def n_tiles(self) -> int:
        return len(self.wafer.params.tile_shapes)

    def input_bits(self) -> NDArray[np.bool_]:
        """The input vector on the selected tile's rows (all False when cleared)."""
        bits = self.controller.input_bits
        return np.zeros(self.tile_shape()[0], dtype=bool) if bits is None else bits

    def _advance_scan(self, n_points: int) -> NDArray[np.intp]:
        """The scan indices of the next n triggers; moves the scan index past them."""
        ctl = self.controller
        rows, cols = self.tile_shape()
        n_list = 0 if ctl.scan_list is None else ctl.scan_list[0].size
        period = {"CELL": 1, "ROW": cols, "TILE": rows * cols, "INFER": cols,
                  "LIST": max(1, n_list), "BATCH": max(1, self.batch_size()) * cols,
                  }[ctl.scan_mode]
        indices = (ctl.scan_index + np.arange(n_points, dtype=np.intp)) % period
        ctl.scan_index = int((ctl.scan_index + n_points) % period)
        return indices

    def read_channel_smu(self, channel: int) -> SmuState:
        """Settings of read channel ``channel`` (0: the read SMU)."""
        if channel == 0:
            return self.smus[Role.READ_SMU]
        return self.extra_read_smus.setdefault(channel, SmuState())

    def _grouped_cells(
        self, channel: int, n_points: int
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]] | None:
        """(rows, cols) the next n triggers of ``channel`` address in a grouped ROW or TILE
        scan (its own scan index advanced), or None when the channel senses no bit line."""
        ctl = self.controller
        rows, cols = self.tile_shape()
        start, stop = sense_group_columns(cols, ctl.sense_groups, channel)
        width = stop - start
        if width < 1:
            return None
        period = width if ctl.scan_mode == "ROW" else rows * width
        first = ctl.scan_index if channel == 0 else ctl.channel_scan_index.get(channel, 0)
        indices = (first + np.arange(n_points, dtype=np.intp)) % period
        if channel == 0:
            ctl.scan_index = int((first + n_points) % period)
        else:
            ctl.channel_scan_index[channel] = int((first + n_points) % period)
        if ctl.scan_mode == "ROW":
            return np.full(n_points, ctl.row, dtype=np.intp), start + indices
        rows_idx, offsets = np.divmod(indices, width)
        return rows_idx, start + offsets

    # --- read SMU -------------------------------------------------------------------------------
    def measure_read_current_A(self, n_points: int, channel: int = 0) -> FloatArray:
        """Current (A) of n triggered readings of read channel ``channel``, each trigger
        advancing the scan (in a grouped ROW or TILE scan, the channel's own one).

        The circuit is closed only in contact over a die, with the controller routed and the
        channel's output on; the transistor conducts only with the gate SMU's output on above
        the die's threshold (the die model decides). Otherwise: noise-level current.
        Channels other than 0 sense only in grouped ROW and TILE scans. Unclamped; the SMU
        applies its current limit.
        """
        if n_points < 1:
            raise ValueError(f"n_points must be >= 1, got {n_points}")
        with self.lock:
            ctl = self.controller
            read = self.read_channel_smu(channel)
            grouped = ctl.scan_mode in ("ROW", "TILE") and (ctl.sense_groups > 1 or channel > 0)
            if grouped:
                drawn = self._drawn_group_period(channel, n_points)
                if drawn is not None:
                    return drawn
            cells = self._grouped_cells(channel, n_points) if grouped else None
            if not grouped:
                indices = self._advance_scan(n_points) if channel == 0 else None
            die = self.contacted_die()
            closed = ctl.routed and read.output_on and read.source_function == "VOLT"
            if die is None or not closed or (grouped and cells is None) or (
                    not grouped and channel > 0):
                return self.open_circuit_current_A(n_points, read.nplc)
            v_gate_V = self.smus[Role.GATE_SMU].sourcing_voltage_V
            if cells is not None:
                return die.read_current_A(
                    ctl.tile, cells[0], cells[1], read.source_voltage_V, v_gate_V, read.nplc
                )
            assert indices is not None
            if ctl.scan_mode == "INFER":
                return self._infer_readings_A(die, indices, v_gate_V, read.nplc)
            if ctl.scan_mode == "BATCH":
                return self._batch_readings_A(die, indices, v_gate_V, read.nplc)
            cols = self.tile_shape()[1]
            if ctl.scan_mode == "LIST":
                if ctl.scan_list is None:
                    return self.open_circuit_current_A(n_points, read.nplc)
                rows_idx, cols_idx = ctl.scan_list[0][indices], ctl.scan_list[1][indices]
            elif ctl.scan_mode == "CELL":
                rows_idx = np.full(n_points, ctl.row, dtype=np.intp)
                cols_idx = np.full(n_points, ctl.col, dtype=np.intp)
            elif ctl.scan_mode == "ROW":
                rows_idx = np.full(n_points, ctl.row, dtype=np.intp)
                cols_idx = indices
            else:  # TILE, row-major
                rows_idx, cols_idx = np.divmod(indices, cols)
            return die.read_current_A(
                ctl.tile, rows_idx, cols_idx, read.source_voltage_V, v_gate_V, read.nplc
            )

    def _drawn_group_period(self, channel: int, n_points: int) -> FloatArray | None:
        """A channel's readings of exactly one grouped period from its scan start, drawn for
        every channel at once on the first such request after arming; None otherwise (partial
        or repeated periods are measured on demand)."""
        ctl = self.controller
        rows, cols = self.tile_shape()
        first = ctl.scan_index if channel == 0 else ctl.channel_scan_index.get(channel, 0)
        start, stop = sense_group_columns(cols, ctl.sense_groups, channel)
        period = (stop - start) * (1 if ctl.scan_mode == "ROW" else rows)
        if period < 1 or first != 0 or n_points != period:
            return None
        if not ctl.group_readings:
            for k in range(ctl.sense_groups):
                lo, hi = sense_group_columns(cols, ctl.sense_groups, k)
                if hi > lo:
                    ctl.group_readings[k] = self._measure_group_period(k)
        readings = ctl.group_readings.pop(channel, None)
        if readings is None:
            return None
        self._grouped_cells(channel, n_points)  # advance the channel's scan past the period
        if self.contacted_die() is None:  # contact lost since the draw: an open circuit now
            return self.open_circuit_current_A(n_points, self.read_channel_smu(channel).nplc)
        return readings

    def _measure_group_period(self, channel: int) -> FloatArray:
        """One period of ``channel``'s grouped scan, measured without moving its scan index."""
        ctl = self.controller
        read = self.read_channel_smu(channel)
        rows, cols = self.tile_shape()
        start, stop = sense_group_columns(cols, ctl.sense_groups, channel)
        width = stop - start
        n_points = width * (1 if ctl.scan_mode == "ROW" else rows)
        die = self.contacted_die()
        closed = ctl.routed and read.output_on and read.source_function == "VOLT"
        if die is None or not closed:
            return self.open_circuit_current_A(n_points, read.nplc)
        if ctl.scan_mode == "ROW":
            rows_idx = np.full(n_points, ctl.row, dtype=np.intp)
            cols_idx = start + np.arange(n_points, dtype=np.intp)
        else:
            rows_idx, offsets = np.divmod(np.arange(n_points, dtype=np.intp), width)
            cols_idx = start + offsets
        v_gate_V = self.smus[Role.GATE_SMU].sourcing_voltage_V
        return die.read_current_A(ctl.tile, rows_idx, cols_idx, read.source_voltage_V,
                                  v_gate_V, read.nplc)

    def _infer_readings_A(
        self, die: DieModel, bit_lines: NDArray[np.intp], v_gate_V: float, nplc: float
    ) -> FloatArray:
        """One summed bit-line current per trigger; a fresh acquisition per pass over the lines."""
        ctl = self.controller
        out = np.empty(bit_lines.size)
        start = 0
        while start < bit_lines.size:
            currents = die.infer_currents_A(
                ctl.tile, self.input_bits(), ctl.input_voltage_V, v_gate_V, nplc
            )
            # Up to the next wrap of the bit-line counter.
            wraps = np.flatnonzero(bit_lines[start + 1 :] == 0)
            stop = start + 1 + int(wraps[0]) if wraps.size else bit_lines.size
            out[start:stop] = currents[bit_lines[start:stop]]
            start = stop
        return out

    def batch_size(self) -> int:
        """Input vectors loaded for SCAN:MODE BATCh."""
        batch = self.controller.input_batch
        return 0 if batch is None else int(batch.shape[0])

    def _batch_readings_A(
        self, die: DieModel, indices: NDArray[np.intp], v_gate_V: float, nplc: float
    ) -> FloatArray:
        """Trigger i reads bit line i % cols with input vector i // cols on the rows; the vectors
        of one pass over the batch are solved together, a fresh acquisition per pass."""
        ctl = self.controller
        rows, cols = self.tile_shape()
        batch = ctl.input_batch
        if batch is None:  # nothing loaded: every row at 0 V
            batch = np.zeros((1, rows), dtype=bool)
        out = np.empty(indices.size)
        start = 0
        while start < indices.size:
            wraps = np.flatnonzero(indices[start + 1 :] == 0)
            stop = start + 1 + int(wraps[0]) if wraps.size else indices.size
            vectors, lines = np.divmod(indices[start:stop], cols)
            first, last = int(vectors[0]), int(vectors[-1]) + 1
            currents = die.infer_batch_currents_A(
                ctl.tile, batch[first:last], ctl.input_voltage_V, v_gate_V, nplc
            )
            out[start:stop] = currents[vectors - first, lines]
            start = stop
        return out

    def open_circuit_current_A(self, n_points: int, nplc: float) -> FloatArray:
        """Noise-level readings of an open circuit."""
        return noise_current_A(n_points, nplc, self._open_rng, self.wafer.params)

    # --- gate SMU -------------------------------------------------------------------------------
    def measure_gate_current_A(self, n_points: int) -> FloatArray:
        """n readings of the gate SMU: word-line leakage in contact (mA on a gross short)."""
        if n_points < 1:
            raise ValueError(f"n_points must be >= 1, got {n_points}")
        with self.lock:
            gate = self.smus[Role.GATE_SMU]
            die = self.contacted_die()
            if die is None or not gate.output_on or gate.source_function != "VOLT":
                return self.open_circuit_current_A(n_points, gate.nplc)
            v_gate_V = gate.source_voltage_V
            return np.array([die.gate_current_A(v_gate_V) for _ in range(n_points)])

    # --- controller writes ----------------------------------------------------------------------
    def write_cells(
        self, rows_idx: NDArray[np.intp], cols_idx: NDArray[np.intp], target_ap: NDArray[np.bool_]
    ) -> bool:
        """Pulse cells of the selected tile with the controller's amplitude and width.

        The pulses reach the die only in contact (otherwise they go nowhere); returns whether
        they did.
        """
        with self.lock:
            die = self.contacted_die()
            ctl = self.controller
            ctl.group_readings.clear()  # drawn before the write: no longer what a read gives
            if die is None:
                return False
            if ctl.pulse_amplitude_V > 0.0:
                amplitude_V, width_s = ctl.pulse_amplitude_V, ctl.pulse_width_s
                die.write(ctl.tile, rows_idx, cols_idx, target_ap, amplitude_V, width_s)
            return True

    def write_selected_cell(self, target_ap: bool) -> bool:
        ctl = self.controller
        return self.write_cells(
            np.array([ctl.row], dtype=np.intp),
            np.array([ctl.col], dtype=np.intp),
            np.array([target_ap]),
        )

    def write_selected_row(self, target_ap: NDArray[np.bool_]) -> bool:
        """One pulse per column of the selected row towards target_ap[col]."""
        cols = self.tile_shape()[1]
        return self.write_cells(
            np.full(cols, self.controller.row, dtype=np.intp),
            np.arange(cols, dtype=np.intp),
            np.asarray(target_ap, dtype=bool),
        )

    def write_selected_tile(self, target_ap: bool) -> bool:
        rows, cols = self.tile_shape()
        rows_idx, cols_idx = np.divmod(np.arange(rows * cols, dtype=np.intp), cols)
        return self.write_cells(rows_idx, cols_idx, np.full(rows * cols, target_ap))

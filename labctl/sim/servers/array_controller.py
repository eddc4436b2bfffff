"""Emulated row/column controller of the die (labctl protocol, docs/array-controller-protocol.md).

The controller addresses the crossbar: it selects tile, row and column, sends write pulses,
routes the selected bit line to the read SMU (and enables the selected row's word line from the
gate SMU), applies binary input vectors to the rows and steps its scan on each read-SMU trigger.
SCPI syntax (see :mod:`labctl.sim.servers.scpi`); commands reply nothing, queries one line,
errors go to ``SYST:ERR?``.

The watchdog (``WDOG``) is the controller's own guard against a host that stops talking (kill
-9, a crash, a power cut): once armed, any line received feeds it, and when it expires every
line is de-routed as ``DESEL`` does. A daemon thread of this instrument waits for the expiry.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from labctl.sim.servers.scpi import (
    DATA_OUT_OF_RANGE,
    MISSING_PARAMETER,
    PARAMETER_NOT_ALLOWED,
    SETTINGS_CONFLICT,
    ScpiError,
    ScpiInstrument,
    expect_params,
    format_bool,
    format_float,
    parse_bits,
    parse_bool,
    parse_choice,
    parse_float,
    parse_int,
)
from labctl.sim.state import ControllerState, ScanMode, StationState

FIRMWARE_VERSION = "1.0"
PULSE_AMPLITUDE_RANGE_V = (0.0, 2.0)
PULSE_WIDTH_RANGE_S = (1e-9, 1e-3)
INPUT_VOLTAGE_RANGE_V = (0.0, 0.5)
#: Watchdog timeouts the controller accepts (s); 0 disarms it.
WATCHDOG_RANGE_S = (0.0, 3600.0)

_STATES = {"P": False, "AP": True}
_SCAN_MODES: dict[str, ScanMode] = {"CELL": "CELL", "ROW": "ROW", "TILE": "TILE", "INFer": "INFER",
                                    "LIST": "LIST", "BATCh": "BATCH"}
#: Input vectors the controller's batch memory holds (SCAN:MODE BATCh reads them in turn).
MAX_BATCH_VECTORS = 1024
#: Sense groups (one per read channel) and scan-list length the controller accepts.
MAX_SENSE_GROUPS = 16
MAX_SCAN_LIST_CELLS = 4096


class ArrayControllerInstrument(ScpiInstrument):
    """The controller's command set over the shared station state."""

    def __init__(self, state: StationState, serial: str) -> None:
        super().__init__(state.lock)
        self.state = state
        self.serial = serial
        #: Watchdog: timeout (0: disarmed), when it expires, and how often it expired.
        self.watchdog_s = 0.0
        self.watchdog_trips = 0
        self._watchdog_deadline: float | None = None
        self._watchdog_thread: threading.Thread | None = None
        self._register_commands()

    @property
    def ctl(self) -> ControllerState:
        return self.state.controller

    # --- ScpiInstrument -------------------------------------------------------------------------
    def identity(self) -> str:
        return f"LABCTL,MTJ-ARRAY-CTRL,{self.serial},{FIRMWARE_VERSION}"

    def reset(self) -> None:
        self.state.controller = ControllerState()
        self._arm_watchdog(0.0)

    def handle_line(self, line: str) -> str | None:
        """Every line received feeds an armed watchdog (before it is executed)."""
        if self._watchdog_deadline is not None:
            self._watchdog_deadline = time.monotonic() + self.watchdog_s
        return super().handle_line(line)

    # --- command table --------------------------------------------------------------------------
    def _register_commands(self) -> None:
        add, q = self.table.add, self._no_params
        add("NTILes", on_query=q(lambda: str(self.state.n_tiles)))
        add("GEOMetry", on_query=self._geometry)
        add("TILE", self._set_tile, q(lambda: str(self.ctl.tile)))
        add("ROW", self._set_row, q(lambda: str(self.ctl.row)))
        add("COLumn", self._set_column, q(lambda: str(self.ctl.col)))
        add(
            "PULSe:AMPLitude",
            self._set_amplitude,
            q(lambda: format_float(self.ctl.pulse_amplitude_V)),
        )
        add("PULSe:WIDTh", self._set_width, q(lambda: format_float(self.ctl.pulse_width_s)))
        add("WRITe:CELL", on_set=self._write_cell)
        add("WRITe:ROW", on_set=self._write_row)
        add("WRITe:TILE", on_set=self._write_tile)
        add("ROUTe[:STATe]", self._set_routed, q(lambda: format_bool(self.ctl.routed)))
        add("SCAN:MODE", self._set_scan_mode, q(lambda: self.ctl.scan_mode))
        add("SCAN:RESet", on_set=q(self._rearm))
        add("SCAN:IDX", on_query=self._scan_index)
        add("SENSe:GROups", self._set_sense_groups, q(lambda: str(self.ctl.sense_groups)))
        add("SCAN:LIST", on_set=self._set_scan_list)
        add("SCAN:LIST:COUNt", on_query=q(self._scan_list_count))
        add(
            "INPut:VOLTage",
            self._set_input_voltage,
            q(lambda: format_float(self.ctl.input_voltage_V)),
        )
        add("INPut[:BITS]", self._set_inputs, q(self._input_bits))
        add("INPut:BATCh[:APPend]", on_set=self._append_batch)
        add("INPut:BATCh:CLEar", on_set=q(self._clear_batch))
        add("INPut:BATCh:COUNt", on_query=q(lambda: str(self.state.batch_size())))
        add("DESELect", on_set=q(self._deselect))
        add("WDOG", self._set_watchdog, q(lambda: format_float(self.watchdog_s)))
        add("WDOG:KICK", on_set=q(lambda: None))  # feeding is done for every line
        add("WDOG:TRIPs", on_query=q(lambda: str(self.watchdog_trips)))

    # --- watchdog -------------------------------------------------------------------------------
    def _set_watchdog(self, params: list[str]) -> None:
        expect_params(params, 1)
        self._arm_watchdog(parse_float(params[0], *WATCHDOG_RANGE_S))

    def _arm_watchdog(self, timeout_s: float) -> None:
        """Arm (timeout > 0, counted from now) or disarm (0) the watchdog."""
        self.watchdog_s = timeout_s
        if timeout_s <= 0.0:
            self._watchdog_deadline = None
            return
        self._watchdog_deadline = time.monotonic() + timeout_s
        thread = self._watchdog_thread
        if thread is None or not thread.is_alive():
            thread = threading.Thread(target=self._watch, name="sim-controller-watchdog",
                                      daemon=True)
            self._watchdog_thread = thread
            thread.start()

    def _watch(self) -> None:
        """Wait for the deadline (fed meanwhile); on expiry de-route everything and disarm."""
        while True:
            deadline = self._watchdog_deadline
            if deadline is None:
                return
            remaining = deadline - time.monotonic()
            if remaining > 0:
                time.sleep(min(remaining, 0.05))
                continue
            with self.lock:
                deadline = self._watchdog_deadline
                if deadline is None or deadline > time.monotonic():
                    continue  # fed or disarmed meanwhile
                self._deselect()
                self.watchdog_trips += 1
                self.watchdog_s, self._watchdog_deadline = 0.0, None
            return

    # --- geometry and selection -----------------------------------------------------------------
    def _geometry(self, params: list[str]) -> str:
        expect_params(params, 1)
        rows, cols = self.state.tile_shape(parse_int(params[0], 0, self.state.n_tiles - 1))
        return f"{rows},{cols}"

    def _set_tile(self, params: list[str]) -> None:
        """Select a tile; row, column and scan go back to 0 and the inputs are cleared."""
        expect_params(params, 1)
        tile = parse_int(params[0], 0, self.state.n_tiles - 1)
        if tile != self.ctl.tile:
            self.ctl.tile, self.ctl.row, self.ctl.col = tile, 0, 0
            self.ctl.input_bits = None
            self.ctl.input_batch = None
            self.ctl.scan_list = None
        self._rearm()

    def _set_row(self, params: list[str]) -> None:
        expect_params(params, 1)
        self.ctl.row = parse_int(params[0], 0, self.state.tile_shape()[0] - 1)
        self._rearm()

    def _set_column(self, params: list[str]) -> None:
        expect_params(params, 1)
        self.ctl.col = parse_int(params[0], 0, self.state.tile_shape()[1] - 1)
        self._rearm()

    def _set_routed(self, params: list[str]) -> None:
        expect_params(params, 1)
        self.ctl.routed = parse_bool(params[0])

    def _set_scan_mode(self, params: list[str]) -> None:
        expect_params(params, 1)
        self.ctl.scan_mode = parse_choice(params[0], _SCAN_MODES)
        self._rearm()

    def _rearm(self) -> None:
        self.ctl.scan_index = 0
        self.ctl.channel_scan_index.clear()
        self.ctl.group_readings.clear()

    # --- sense groups and scan lists (parallel and adaptive reads) ------------------------------
    def _scan_index(self, params: list[str]) -> str:
        """``SCAN:IDX? [<channel 1 ... 16>]``: the index the channel's next trigger reads."""
        expect_params(params, 0, 1)
        channel = parse_int(params[0], 1, MAX_SENSE_GROUPS) - 1 if params else 0
        if channel == 0:
            return str(self.ctl.scan_index)
        return str(self.ctl.channel_scan_index.get(channel, 0))

    def _set_sense_groups(self, params: list[str]) -> None:
        expect_params(params, 1)
        self.ctl.sense_groups = parse_int(params[0], 1, MAX_SENSE_GROUPS)
        self._rearm()

    def _set_scan_list(self, params: list[str]) -> None:
        """``SCAN:LIST r1,c1,r2,c2,...``: the cells of a LIST scan (of the selected tile)."""
        if not params or len(params) % 2:
            raise ScpiError(MISSING_PARAMETER, "expected row,column pairs")
        if len(params) > 2 * MAX_SCAN_LIST_CELLS:
            raise ScpiError(PARAMETER_NOT_ALLOWED, f"at most {MAX_SCAN_LIST_CELLS} cells")
        rows, cols = self.state.tile_shape()
        values = [parse_int(p, 0, (rows if k % 2 == 0 else cols) - 1)
                  for k, p in enumerate(params)]
        pairs = np.array(values, dtype=np.intp).reshape(-1, 2)
        self.ctl.scan_list = (pairs[:, 0].copy(), pairs[:, 1].copy())
        self._rearm()

    def _scan_list_count(self) -> str:
        return str(0 if self.ctl.scan_list is None else self.ctl.scan_list[0].size)

    def _deselect(self) -> None:
        """Safe state: routing off, scan CELL, inputs cleared, pulse amplitude 0."""
        ctl = self.ctl
        ctl.routed = False
        ctl.scan_mode = "CELL"
        ctl.scan_index = 0
        ctl.input_bits = None
        ctl.input_batch = None
        ctl.pulse_amplitude_V = 0.0
        ctl.sense_groups = 1
        ctl.channel_scan_index.clear()

    # --- pulses ---------------------------------------------------------------------------------
    def _set_amplitude(self, params: list[str]) -> None:
        expect_params(params, 1)
        self.ctl.pulse_amplitude_V = parse_float(params[0], *PULSE_AMPLITUDE_RANGE_V)

    def _set_width(self, params: list[str]) -> None:
        expect_params(params, 1)
        self.ctl.pulse_width_s = parse_float(params[0], *PULSE_WIDTH_RANGE_S)

    def _check_amplitude(self) -> None:
        if self.ctl.pulse_amplitude_V <= 0.0:
            raise ScpiError(SETTINGS_CONFLICT, "pulse amplitude is 0 (set PULS:AMPL)")

    def _write_cell(self, params: list[str]) -> None:
        expect_params(params, 1)
        target_ap = parse_choice(params[0], _STATES)
        self._check_amplitude()
        self.state.write_selected_cell(target_ap)

    def _write_row(self, params: list[str]) -> None:
        expect_params(params, 1)
        bits = parse_bits(params[0], self.state.tile_shape()[1])
        self._check_amplitude()
        self.state.write_selected_row(np.array(bits, dtype=bool))

    def _write_tile(self, params: list[str]) -> None:
        expect_params(params, 1)
        target_ap = parse_choice(params[0], _STATES)
        self._check_amplitude()
        self.state.write_selected_tile(target_ap)

    # --- inference inputs -----------------------------------------------------------------------
    def _set_input_voltage(self, params: list[str]) -> None:
        expect_params(params, 1)
        self.ctl.input_voltage_V = parse_float(params[0], *INPUT_VOLTAGE_RANGE_V)

    def _set_inputs(self, params: list[str]) -> None:
        expect_params(params, 1)
        bits = parse_bits(params[0], self.state.tile_shape()[0])
        self.ctl.input_bits = np.array(bits, dtype=bool)

    def _append_batch(self, params: list[str]) -> None:
        """Append input vectors (one parameter each, `rows` bits) to the batch; the whole
        command is refused if any is malformed or the batch would exceed MAX_BATCH_VECTORS."""
        expect_params(params, 1, MAX_BATCH_VECTORS)
        rows = self.state.tile_shape()[0]
        vectors = np.array([parse_bits(p, rows) for p in params], dtype=bool)
        if self.state.batch_size() + len(vectors) > MAX_BATCH_VECTORS:
            raise ScpiError(DATA_OUT_OF_RANGE, f"batch holds at most {MAX_BATCH_VECTORS} vectors")
        batch = self.ctl.input_batch
        self.ctl.input_batch = vectors if batch is None else np.concatenate([batch, vectors])
        self._rearm()

    def _clear_batch(self) -> None:
        self.ctl.input_batch = None
        self._rearm()

    def _input_bits(self) -> str:
        return "".join("1" if bit else "0" for bit in self.state.input_bits())

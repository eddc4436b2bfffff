"""Batched crossbar operations on a connected station: reads, writes and inference currents.

Reads use the read SMU's trigger model together with the controller's scan modes: one
acquisition reads a whole row or a whole tile, and the readings come back in one round trip,
verified: the reply also carries the instrument's reading count, its own average of the readings
and the compliance flag, so a garbled reply or a reading clamped at the current limit raises
InstrumentError (and is measured again by the caller's retry) instead of becoming data.
Resistances include the access transistor (read voltage / measured current).

A station with several read channels (``read_smu``, ``read_smu_2`` ...) reads rows and tiles in
parallel: the controller splits the bit lines into as many sense groups (``SENS:GRO``), and every
channel runs its own acquisition of its group at the same time, each verified the same way.
Single cells anywhere on a tile are read in one acquisition through a scan list (``SCAN:LIST``),
which is how the adaptive read re-reads the few cells a fast pass left ambiguous.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from drivers.array_controller import (
    MAX_BATCH_VECTORS,
    MAX_SCAN_LIST_CELLS,
    TARGET_STATES,
    bits_to_string,
)
from drivers.keithley2450 import BufferReadout
from drivers.scpi import raise_queued_errors
from labctl.core.errors import InstrumentError
from labctl.core.geometry import READ_CAP_OHM
from labctl.station.station import Station


class ComplianceTripped(InstrumentError):
    """A reading hit the read SMU's current limit: clamped, so not a resistance to keep."""

DEFAULT_NPLC = 0.1
#: Cells pulsed per controller message by :func:`write_cells` (each ~30 bytes of the 64 KiB).
CELLS_PER_WRITE_MESSAGE = 1000


def resistance_from_current_ohm(read_voltage_V: float, current_A: Any) -> np.ndarray:
    """|V| / |I|, capped at READ_CAP_OHM where the current is at noise level (open cell, probes
    lifted): every resistance array stays finite."""
    current = np.abs(np.asarray(current_A, dtype=np.float64))
    floor_A = abs(read_voltage_V) / READ_CAP_OHM
    with np.errstate(divide="ignore"):
        return np.where(current > floor_A, abs(read_voltage_V) / current, READ_CAP_OHM)


def read_tile_resistance_ohm(
    station: Station, tile: int, nplc: float = DEFAULT_NPLC
) -> np.ndarray:
    """Resistance of every cell of ``tile`` (rows x cols), from one buffered acquisition."""
    rows, cols = station.tile_shape(tile)
    if len(station.sense_channels) > 1:
        currents = _grouped_scan_currents(station, tile, "TILE", rows, cols, nplc)
    else:
        currents = _scan_currents(station, tile, "TILE", rows * cols, nplc).reshape(rows, cols)
    return resistance_from_current_ohm(station.limits.read_voltage_V, currents)


def read_row_resistance_ohm(
    station: Station, tile: int, row: int, nplc: float = DEFAULT_NPLC
) -> np.ndarray:
    """Resistance of every cell of one row of ``tile`` (cols,), from one buffered acquisition."""
    _, cols = station.tile_shape(tile)
    if len(station.sense_channels) > 1:
        currents = _grouped_scan_currents(station, tile, "ROW", 1, cols, nplc, row=row)[0]
    else:
        currents = _scan_currents(station, tile, "ROW", cols, nplc, row=row)
    return resistance_from_current_ohm(station.limits.read_voltage_V, currents)


def read_cells_resistance_ohm(
    station: Station, tile: int, cells: Sequence[tuple[int, int]], nplc: float = DEFAULT_NPLC
) -> np.ndarray:
    """Resistance of each listed cell (row, column) of ``tile``, in list order, from one
    ``LIST``-scan acquisition per :data:`MAX_SCAN_LIST_CELLS` cells (through ``read_smu``)."""
    out = np.empty(len(cells))
    for start in range(0, len(cells), MAX_SCAN_LIST_CELLS):
        chunk = list(cells[start:start + MAX_SCAN_LIST_CELLS])
        currents = _scan_currents(station, tile, "LIST", len(chunk), nplc, scan_list=chunk)
        out[start:start + len(chunk)] = resistance_from_current_ohm(
            station.limits.read_voltage_V, currents)
    return out


def read_cell_resistance_ohm(
    station: Station, tile: int, row: int, col: int, nplc: float = DEFAULT_NPLC
) -> float:
    """Resistance of one cell, from a single reading."""
    currents = _scan_currents(station, tile, "CELL", 1, nplc, row=row, col=col)
    return float(resistance_from_current_ohm(station.limits.read_voltage_V, currents)[0])


def write_tile(
    station: Station,
    tile: int,
    target: str,
    amplitude_V: float | None = None,
    width_s: float | None = None,
) -> None:
    """One write pulse to every cell of ``tile`` towards ``target`` (``"P"`` or ``"AP"``).

    Amplitude and width default to the station's write voltage and width; the controller
    refuses amplitudes above ``max_write_voltage_V``.
    """
    state = _target(target)
    _prepare_write(station, tile, amplitude_V, width_s)
    station.controller.write_tile(state)
    raise_queued_errors(station.controller, f"write tile {tile} to {state}")


def write_row(
    station: Station,
    tile: int,
    row: int,
    bits: str | Iterable[Any],
    amplitude_V: float | None = None,
    width_s: float | None = None,
) -> None:
    """One write pulse per column of a row: bit 0 towards P, bit 1 towards AP."""
    _, cols = station.tile_shape(tile)
    text = bits_to_string(bits)
    if len(text) != cols:
        raise ValueError(f"tile {tile} has {cols} columns, got {len(text)} bits")
    _prepare_write(station, tile, amplitude_V, width_s)
    station.controller.row = row
    station.controller.write_row(text)
    raise_queued_errors(station.controller, f"write row {row} of tile {tile}")


def write_cells(
    station: Station,
    tile: int,
    cells: Sequence[tuple[int, int]],
    target: str,
    amplitude_V: float | None = None,
    width_s: float | None = None,
) -> None:
    """One write pulse to each listed cell (row, column) of ``tile`` towards ``target``, up to
    :data:`CELLS_PER_WRITE_MESSAGE` cells per controller message."""
    state = _target(target)
    if not cells:
        return
    _prepare_write(station, tile, amplitude_V, width_s)
    for start in range(0, len(cells), CELLS_PER_WRITE_MESSAGE):
        station.controller.write_cells(cells[start:start + CELLS_PER_WRITE_MESSAGE], state)
    raise_queued_errors(station.controller, f"write {len(cells)} cells of tile {tile} to {state}")


def write_cell(
    station: Station,
    tile: int,
    row: int,
    col: int,
    target: str,
    amplitude_V: float | None = None,
    width_s: float | None = None,
) -> None:
    """One write pulse to cell (row, col) of ``tile`` towards ``target``."""
    state = _target(target)
    _prepare_write(station, tile, amplitude_V, width_s)
    station.controller.row = row
    station.controller.column = col
    station.controller.write_cell(state)
    raise_queued_errors(station.controller, f"write cell ({row}, {col}) of tile {tile}")


def infer_bitline_currents_A(
    station: Station,
    tile: int,
    input_bits: str | Iterable[Any],
    input_voltage_V: float | None = None,
    nplc: float = DEFAULT_NPLC,
) -> np.ndarray:
    """Summed current of every bit line (cols,) with the binary input vector on the rows.

    Rows whose bit is 1 are driven at ``input_voltage_V`` (default: the read voltage); the
    bit lines are held at 0 V by the read SMU, which measures each one in turn.
    """
    rows, cols = station.tile_shape(tile)
    text = bits_to_string(input_bits)
    if len(text) != rows:
        raise ValueError(f"tile {tile} has {rows} rows, got {len(text)} input bits")
    voltage_V = station.limits.read_voltage_V if input_voltage_V is None else input_voltage_V
    controller = station.controller
    controller.tile = tile
    controller.input_voltage = voltage_V
    controller.apply_inputs(text)
    currents = _scan_currents(station, tile, "INFER", cols, nplc, bitline_V=0.0,
                              allow_trip=True)
    if station.read_smu.last_acquisition_tripped:
        raise InstrumentError(
            f"inference on tile {tile}: a bit-line current reached the read SMU's limit of "
            f"{station.limits.compliance_current_A:g} A; lower the input voltage or raise "
            "compliance_current_A"
        )
    return currents


#: Input vectors per BATCH acquisition: a few SMU trigger-model runs per 1 000 images, each
#: reply a few hundred kB.
BATCH_VECTORS_PER_SCAN = 250


def infer_batch_bitline_currents_A(
    station: Station,
    tile: int,
    input_rows: Any,
    input_voltage_V: float | None = None,
    nplc: float = DEFAULT_NPLC,
) -> np.ndarray:
    """infer_bitline_currents_A for many input vectors (n, rows) at once: currents (n, cols).

    The vectors go into the controller's batch memory; one BATCH scan (a trigger model of
    n x cols readings) reads every bit line of every vector, BATCH_VECTORS_PER_SCAN per
    acquisition, so a thousand images cost a handful of round trips instead of thousands.
    """
    rows, cols = station.tile_shape(tile)
    vectors = np.asarray(input_rows, dtype=bool)
    if vectors.ndim != 2 or vectors.shape[1] != rows:
        raise ValueError(f"tile {tile} has {rows} rows, got input vectors of shape "
                         f"{vectors.shape}")
    voltage_V = station.limits.read_voltage_V if input_voltage_V is None else input_voltage_V
    controller = station.controller
    out = np.empty((vectors.shape[0], cols))
    per_scan = min(BATCH_VECTORS_PER_SCAN, MAX_BATCH_VECTORS)
    for start in range(0, vectors.shape[0], per_scan):
        chunk = vectors[start : start + per_scan]
        controller.tile = tile
        controller.input_voltage = voltage_V
        controller.clear_input_batch()
        controller.append_input_batch(chunk)
        readings = _scan_currents(station, tile, "BATCH", chunk.shape[0] * cols, nplc,
                                  bitline_V=0.0, allow_trip=True)
        if station.read_smu.last_acquisition_tripped:
            raise InstrumentError(
                f"inference on tile {tile}: a bit-line current reached the read SMU's limit of "
                f"{station.limits.compliance_current_A:g} A; lower the input voltage or raise "
                "compliance_current_A"
            )
        out[start : start + chunk.shape[0]] = readings.reshape(chunk.shape[0], cols)
    return out


def _scan_currents(
    station: Station,
    tile: int,
    mode: str,
    n_points: int,
    nplc: float,
    row: int | None = None,
    col: int | None = None,
    bitline_V: float | None = None,
    allow_trip: bool = False,
    scan_list: Sequence[tuple[int, int]] | None = None,
) -> np.ndarray:
    """Arm the controller's scan and run one verified acquisition of ``n_points`` readings.

    ComplianceTripped if a reading hit the current limit (unless ``allow_trip``): on these
    cells only a current spike or a short beyond compliance does, and neither is a resistance.
    """
    station.ensure_bias(nplc, read_voltage_V=bitline_V)
    controller = station.controller
    controller.tile = tile
    if row is not None:
        controller.row = row
    if col is not None:
        controller.column = col
    if scan_list is not None:
        controller.set_scan_list(scan_list)
    controller.scan_mode = mode
    controller.reset_scan()
    controller.routed = True
    # Also a barrier: the controller has processed the selection before the SMU triggers.
    raise_queued_errors(controller, f"{mode.lower()} scan of tile {tile}")
    smu = station.read_smu
    smu.configure_buffered_current(n_points)
    readout = smu.acquire_verified()
    if readout.tripped and not allow_trip:
        raise ComplianceTripped(
            f"{mode.lower()} scan of tile {tile}: a reading reached the read SMU's current limit "
            f"of {station.limits.compliance_current_A:g} A (clamped, not a resistance)"
        )
    return readout.readings


def sense_groups(cols: int, channels: int) -> list[tuple[int, int]]:
    """[start, stop) bit lines each read channel senses when ``cols`` bit lines are split into
    ``channels`` groups (docs/array-controller-protocol.md: start = k * cols // channels)."""
    return [(k * cols // channels, (k + 1) * cols // channels) for k in range(channels)]


def _grouped_scan_currents(
    station: Station, tile: int, mode: str, rows: int, cols: int, nplc: float,
    row: int | None = None,
) -> np.ndarray:
    """(rows, cols) currents of a ROW (rows = 1) or TILE scan read by every read channel at
    once, each channel its own sense group, each acquisition verified."""
    channels = station.sense_channels
    station.ensure_bias(nplc)
    controller = station.controller
    controller.tile = tile
    if row is not None:
        controller.row = row
    controller.scan_mode = mode
    controller.sense_groups = len(channels)
    controller.reset_scan()
    controller.routed = True
    raise_queued_errors(controller, f"grouped {mode.lower()} scan of tile {tile}")
    groups = sense_groups(cols, len(channels))

    def acquire(k: int) -> BufferReadout | None:
        start, stop = groups[k]
        if stop == start:
            return None  # more channels than bit lines: this one senses nothing
        smu = channels[k]
        smu.configure_buffered_current(rows * (stop - start))
        return smu.acquire_verified()

    with ThreadPoolExecutor(max_workers=len(channels)) as pool:
        readouts = list(pool.map(acquire, range(len(channels))))
    out = np.empty((rows, cols))
    for (start, stop), readout in zip(groups, readouts, strict=True):
        if readout is None:
            continue
        if readout.tripped:
            raise ComplianceTripped(
                f"{mode.lower()} scan of tile {tile}: a reading of bit lines {start} ... "
                f"{stop - 1} reached the current limit of {station.limits.compliance_current_A:g}"
                " A (clamped, not a resistance)"
            )
        out[:, start:stop] = np.asarray(readout.readings).reshape(rows, stop - start)
    return out


def _prepare_write(
    station: Station, tile: int, amplitude_V: float | None, width_s: float | None
) -> None:
    limits = station.limits
    if station.bias is None:  # the word lines need the gate voltage to pass the pulse
        station.ensure_bias(DEFAULT_NPLC)
    controller = station.controller
    controller.tile = tile
    controller.pulse_amplitude = limits.write_voltage_V if amplitude_V is None else amplitude_V
    controller.pulse_width = limits.write_width_s if width_s is None else width_s


def _target(target: str) -> str:
    state = str(target).upper()
    if state not in TARGET_STATES:
        raise ValueError(f"target state must be 'P' or 'AP', got {target!r}")
    return state

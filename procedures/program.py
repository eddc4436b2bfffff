"""Write a pattern of states onto a die's tiles with write-verify, and run in-situ inference there.

Write-verify: every row gets one batched write (``WRIT:ROW``, bit 0 = P, 1 = AP), then the
whole tile is read back in one acquisition; a cell is on target when its read-back conductance
lies on the target's side of its own P/AP midpoint (from the characterisation). Rows holding
cells that missed are written again (cells already on target are not disturbed: a pulse towards
the state a cell holds does nothing), up to ``max_pulses`` pulses per cell. Cells the
characterisation already knows as defective are not re-pulsed (they ignore writes); working
cells that never reach their target become new defects: stuck in the state they read.

Everything talks to the station through labctl.station.array_ops; the station is brought to its
safe state on every exit path (normal end, error, interrupt).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from labctl.analysis.conductance import conductance_from_resistance_S
from labctl.core.defects import DefectCode
from labctl.core.errors import ConfigError, InstrumentError
from labctl.core.wafer_map import parse_die_name
from labctl.station import array_ops
from labctl.station.station import Station

log = logging.getLogger(__name__)

#: Integration time (power-line cycles) of verify reads and in-situ inference: read noise at
#: the sweep's 0.1 PLC moves a neuron's normalised input by ~0.6 weight steps, at 1 PLC ~0.2
#: and at 4 PLC ~0.1 (simulated station), which keeps neurons near their threshold from
#: flipping between the read-back map and the in-situ pass.
VERIFY_NPLC = 4.0


@dataclass(frozen=True)
class WriteVerifySettings:
    """Bounds and pulse of a programming run (None: the station's write voltage / width)."""

    max_pulses: int = 5
    amplitude_V: float | None = None
    width_s: float | None = None
    #: integration of the read-back: it becomes the die's map for validation, so less noise
    #: than the sweep's screening reads.
    nplc: float = VERIFY_NPLC

    def __post_init__(self) -> None:
        if not 1 <= self.max_pulses <= 255:
            raise ConfigError(f"max_pulses must be 1 ... 255, got {self.max_pulses}")


@dataclass(frozen=True)
class TileTarget:
    """What one tile should hold, and what the characterisation knows about its cells."""

    tile: int
    #: True = AP (weight -1), False = P (weight +1); rows x cols of the physical tile.
    target_ap: NDArray[np.bool_]
    #: per-cell midpoint between its measured P and AP conductance, S.
    midpoint_S: NDArray[np.float64]
    #: defect codes from the characterisation.
    defects: NDArray[np.uint8]


@dataclass(frozen=True)
class TileOutcome:
    """A tile after write-verify."""

    tile: int
    r_read_ohm: NDArray[np.float64]
    pulses: NDArray[np.uint8]
    missed: NDArray[np.bool_]
    new_defects: NDArray[np.bool_]
    defects: NDArray[np.uint8]


def reads_as_ap(r_ohm: NDArray[np.float64], midpoint_S: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Whether each read-back cell is on the AP (low-conductance) side of its midpoint."""
    result: NDArray[np.bool_] = conductance_from_resistance_S(r_ohm) < midpoint_S
    return result


def holds_by_defect(defects: NDArray[np.uint8], target_ap: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Known-defective cells that hold their target anyway: stuck in the target state. (Their
    P and AP reads coincide, so the read-back cannot tell; shorts and opens hold nothing.)"""
    result: NDArray[np.bool_] = ((defects == DefectCode.STUCK_P) & ~target_ap) | (
        (defects == DefectCode.STUCK_AP) & target_ap
    )
    return result


def row_bits(target_ap_row: NDArray[np.bool_]) -> str:
    """A row's targets as the controller's bit string (0 = P, 1 = AP)."""
    return "".join("1" if ap else "0" for ap in np.asarray(target_ap_row, dtype=bool))


def write_verify_tile(
    station: Station,
    target: TileTarget,
    settings: WriteVerifySettings,
    should_stop: Callable[[], bool] = lambda: False,
) -> TileOutcome:
    """Program one tile: all rows once, then re-pulse rows with missed working cells."""
    shape = station.tile_shape(target.tile)
    if target.target_ap.shape != shape:
        raise ConfigError(f"tile {target.tile} is {shape}, the pattern {target.target_ap.shape}")
    known = target.defects != DefectCode.OK
    pulses = np.zeros(shape, dtype=np.uint8)
    rows_to_write = np.arange(shape[0])
    r_read = np.full(shape, np.nan)
    for attempt in range(settings.max_pulses):
        for row in rows_to_write:
            if should_stop():
                raise KeyboardInterrupt("stop requested while programming")
            array_ops.write_row(
                station, target.tile, int(row), row_bits(target.target_ap[row]),
                amplitude_V=settings.amplitude_V, width_s=settings.width_s,
            )
        # The pulse count covers every cell of a written row (a pulse to a cell already on
        # target does nothing, but it was sent).
        pulses[rows_to_write] += 1
        r_read = array_ops.read_tile_resistance_ohm(station, target.tile, nplc=settings.nplc)
        missed = reads_as_ap(r_read, target.midpoint_S) != target.target_ap
        retry = missed & ~known
        rows_to_write = np.flatnonzero(retry.any(axis=1))
        log.debug("tile %d pass %d: %d working cells off target", target.tile, attempt + 1,
                  int(retry.sum()))
        if rows_to_write.size == 0:
            break
    stuck_ap = reads_as_ap(r_read, target.midpoint_S)
    new_defects = (stuck_ap != target.target_ap) & ~known
    missed = np.where(known, ~holds_by_defect(target.defects, target.target_ap), new_defects)
    defects = target.defects.copy()
    defects[new_defects & stuck_ap] = DefectCode.STUCK_AP
    defects[new_defects & ~stuck_ap] = DefectCode.STUCK_P
    return TileOutcome(target.tile, r_read, pulses, missed, new_defects, defects)


@contextmanager
def on_die(station: Station, die: str) -> Iterator[None]:
    """Step to `die` and contact it for the block; the station's safe state afterwards, however
    the block ends."""
    try:
        col, row = parse_die_name(die)
        reply = station.prober.step_to_die(col, row)
        if tuple(reply[:2]) != (col, row):
            raise InstrumentError(f"prober stepped to ({reply[0]}, {reply[1]}), not {die}")
        station.prober.chuck.move_contact()
        yield
    finally:
        station.safe_state()


def program_die(
    station: Station,
    die: str,
    targets: Sequence[TileTarget],
    settings: WriteVerifySettings,
    should_stop: Callable[[], bool] = lambda: False,
) -> list[TileOutcome]:
    """Step to `die`, contact, write-verify every target tile, end in the safe state."""
    with on_die(station, die):
        return [write_verify_tile(station, t, settings, should_stop) for t in targets]


def infer_on_die(
    station: Station,
    tile: int,
    input_rows: NDArray[np.bool_],
    input_voltage_V: float | None = None,
    nplc: float = VERIFY_NPLC,
) -> NDArray[np.float64]:
    """Bit-line currents (samples, cols) of `tile` for each row-drive vector (samples, rows), A,
    read in batches (the controller's BATCH scan).

    The caller holds the die in contact (`on_die`)."""
    return array_ops.infer_batch_bitline_currents_A(
        station, tile, np.asarray(input_rows, dtype=bool), input_voltage_V=input_voltage_V,
        nplc=nplc,
    )

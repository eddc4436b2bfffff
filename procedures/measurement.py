"""The characterisation measurement of one contacted die: per tile and cycle, write every cell
to P and read the tile, write every cell to AP and read it again; then classify each tile.

Writes are tile writes (one command pulses every cell of the tile). Reads are batched by tile
(one buffered acquisition of rows x cols readings) or by row (one acquisition per row: more
round trips, but progress and stop requests come row by row). Every instrument operation is
retried on transient failures (:mod:`procedures.retry`), and every verified read refuses
garbled or clamped readings. After each pass (a tile write and the reads that follow) the
contact is checked again; a pass during which the probes lost contact is measured again after
re-contacting, so no open-circuit reading is ever classified as an open cell.

With adaptive reading (the default), the passes run at the fast NPLC and, once a tile's passes
are done, the cells its reads leave ambiguous (:mod:`procedures.adaptive`) are measured again at
the precise NPLC: per cycle, their cells written to P and read (one scan-list acquisition), then
written to AP and read; the contact is checked after that too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from labctl.analysis.classify import ClassificationError, TileClassification, classify_tile
from labctl.core.defects import DefectCode
from labctl.reports.summary import CellStats, cell_stats
from labctl.station import array_ops
from labctl.station.station import Station
from labctl.store.layout import TileData
from procedures.adaptive import ambiguous_cells
from procedures.die_checks import DieCheckFailed
from procedures.retry import RetryPolicy
from procedures.settings import CharacterisationSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
FloatArray = NDArray[np.float64]

#: Re-contacts a die may need (contact lost during a pass) before it is failed.
MAX_RECONTACTS_PER_DIE = 5


class StopRequested(Exception):
    """The operator asked to stop; raised at the next row or tile boundary."""


@dataclass
class TileReads:
    """Raw reads of one tile, (cycles, rows, cols) ohm; NaN where not read yet."""

    tile: int
    parallel_ohm: FloatArray
    antiparallel_ohm: FloatArray

    @classmethod
    def empty(cls, tile: int, cycles: int, rows: int, cols: int) -> TileReads:
        shape = (cycles, rows, cols)
        return cls(tile, np.full(shape, np.nan), np.full(shape, np.nan))

    def rows_done(self) -> int:
        """Rows with any reading yet (first pass filling in): the progress a live view shows."""
        read = ~np.isnan(self.parallel_ohm[:, :, 0]) | ~np.isnan(self.antiparallel_ohm[:, :, 0])
        return int(np.count_nonzero(read.any(axis=0)))


@dataclass(frozen=True)
class TileResult:
    """A characterised tile: its raw reads and their classification."""

    reads: TileReads
    classification: TileClassification

    def as_tile_data(self) -> TileData:
        c = self.classification
        return TileData(index=self.reads.tile, r_parallel_ohm=c.r_parallel_ohm,
                        r_antiparallel_ohm=c.r_antiparallel_ohm, tmr=c.tmr, defects=c.defects,
                        write_failures=c.write_failures, thresholds=c.thresholds)


def die_stats(results: list[TileResult]) -> CellStats:
    """Yield, defect counts and medians of a characterised die, counted as `labctl inspect` does."""
    return cell_stats([r.as_tile_data() for r in results])


def row_records(die_index: int, result: TileResult) -> list[dict[str, Any]]:
    """One PyMeasure ``results`` record per tile row (keys: procedures.events.ROW_COLUMNS);
    medians over the row's ok cells (NaN if none)."""
    c = result.classification
    records = []
    for row in range(c.shape[0]):
        ok = c.defects[row] == DefectCode.OK

        def median(values: FloatArray, ok: NDArray[np.bool_] = ok) -> float:
            return float(np.median(values[ok])) if ok.any() else float("nan")

        records.append({
            "Die index": die_index,
            "Tile": result.reads.tile,
            "Row": row,
            "Cells": int(c.shape[1]),
            "Median R_P (ohm)": median(c.r_parallel_ohm[row]),
            "Median R_AP (ohm)": median(c.r_antiparallel_ohm[row]),
            "Median TMR": median(c.tmr[row]),
            "Defective cells": int(np.count_nonzero(~ok)),
        })
    return records


class DieCharacteriser:
    """Measures and classifies every tile of the contacted die with the given settings.

    ``should_stop`` is polled between rows (row batching) or tile operations (tile batching);
    when it returns True, StopRequested is raised. ``on_progress(fraction)`` reports the share
    of the die's reads done; ``on_partial(reads)`` sees a tile's reads after every row (row
    batching) or pass (tile batching), for live checkpoints. ``recover`` runs before each
    retry of a failed operation.
    """

    def __init__(
        self,
        station: Station,
        settings: CharacterisationSettings,
        retry: RetryPolicy,
        *,
        recover: Callable[[], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        on_progress: Callable[[float], None] = lambda fraction: None,
        on_partial: Callable[[TileReads], None] | None = None,
        contact_held: Callable[[], bool] | None = None,
        recontact: Callable[[], None] | None = None,
    ) -> None:
        self.station = station
        self.settings = settings
        self.retry = retry
        self.recover = recover
        self.should_stop = should_stop
        self.on_progress = on_progress
        self.on_partial = on_partial
        self.contact_held = contact_held
        self.recontact = recontact
        self.recontacts = 0
        #: Cells measured again by the adaptive read so far (all tiles of this characteriser).
        self.reread_cells = 0
        self._units_done = 0
        self._units_total = 1

    def tile_shapes(self) -> list[tuple[int, int]]:
        """(rows, cols) of every tile of the die, from the controller (verified replies)."""
        n_tiles = self._call("tile count", self.station.tile_count)
        shapes = []
        for k in range(n_tiles):
            def shape(k: int = k) -> tuple[int, int]:
                return self.station.tile_shape(k)

            shapes.append(self._call(f"geometry of tile {k}", shape))
        return shapes

    def characterise(self) -> list[TileResult]:
        """Measure and classify every tile; DieCheckFailed if a tile shows no switching."""
        results = []
        for reads in self.measure():
            try:
                classification = classify_tile(reads.parallel_ohm, reads.antiparallel_ohm)
            except ClassificationError as exc:
                raise DieCheckFailed(f"tile {reads.tile}: {exc}") from exc
            results.append(TileResult(reads, classification))
        return results

    def measure(self) -> list[TileReads]:
        """Raw reads of every tile."""
        shapes = self.tile_shapes()
        # One unit is one row read; every cycle reads each row twice (after P, after AP).
        self._units_total = max(1, 2 * self.settings.cycles * sum(r for r, _ in shapes))
        self._units_done = 0
        return [self.measure_tile(k, rows, cols) for k, (rows, cols) in enumerate(shapes)]

    def measure_tile(self, tile: int, rows: int, cols: int) -> TileReads:
        """`cycles` x (tile write P, read, tile write AP, read) of one tile."""
        s = self.settings
        reads = TileReads.empty(tile, s.cycles, rows, cols)
        for cycle in range(s.cycles):
            for target, stack in (("P", reads.parallel_ohm), ("AP", reads.antiparallel_ohm)):
                self._check_stop()

                def write(target: str = target) -> None:
                    array_ops.write_tile(self.station, tile, target,
                                         amplitude_V=s.write_voltage_V, width_s=s.write_width_s)

                while True:
                    self._call(f"write tile {tile} to {target}", write)
                    self._read_pass(tile, rows, stack[cycle], reads)
                    if self._pass_in_contact(tile, target):
                        break
                    stack[cycle][:] = np.nan  # measured partly without contact: not data
                    self._units_done -= rows
                    self._check_stop()
                self._publish_partial(reads)
        if s.adaptive:
            self._remeasure_ambiguous(tile, reads)
        return reads

    def _remeasure_ambiguous(self, tile: int, reads: TileReads) -> None:
        """Measure the tile's ambiguous cells again at the precise NPLC (cycles x write P /
        read / write AP / read) and replace their fast reads; again after a lost contact."""
        try:
            fast = classify_tile(reads.parallel_ohm, reads.antiparallel_ohm)
        except ClassificationError:
            return  # no switching population: characterise() reports it
        rows_idx, cols_idx = np.nonzero(
            ambiguous_cells(reads.parallel_ohm, reads.antiparallel_ohm, fast))
        if rows_idx.size == 0:
            return
        cells = list(zip(rows_idx.tolist(), cols_idx.tolist(), strict=True))
        s = self.settings
        log.info("tile %d: %d ambiguous cells measured again at NPLC %g", tile, len(cells),
                 s.precise_nplc)
        measured = {"P": reads.parallel_ohm.copy(), "AP": reads.antiparallel_ohm.copy()}
        while True:
            for cycle in range(s.cycles):
                for target in ("P", "AP"):
                    self._check_stop()

                    def write(target: str = target) -> None:
                        array_ops.write_cells(self.station, tile, cells, target,
                                              amplitude_V=s.write_voltage_V,
                                              width_s=s.write_width_s)

                    def read() -> FloatArray:
                        return array_ops.read_cells_resistance_ohm(self.station, tile, cells,
                                                                   nplc=s.precise_nplc)

                    self._call(f"write {len(cells)} ambiguous cells of tile {tile} to {target}",
                               write)
                    values = self._call(f"re-read {len(cells)} cells of tile {tile}", read)
                    measured[target][cycle, rows_idx, cols_idx] = values
            if self._pass_in_contact(tile, "re-read"):
                break
        reads.parallel_ohm[:] = measured["P"]
        reads.antiparallel_ohm[:] = measured["AP"]
        self.reread_cells += len(cells)

    def _publish_partial(self, reads: TileReads) -> None:
        if self.on_partial is not None:
            self.on_partial(reads)

    def _pass_in_contact(self, tile: int, target: str) -> bool:
        """Whether the probes stayed down during the pass; if not, re-contact (bounded)."""
        if self.contact_held is None:
            return True
        if self._call(f"contact check after tile {tile} {target} pass", self.contact_held):
            return True
        self.recontacts += 1
        if self.recontacts > MAX_RECONTACTS_PER_DIE or self.recontact is None:
            raise DieCheckFailed(
                f"contact lost {self.recontacts} times during the die (last: tile {tile}, "
                f"after writing {target}); probes or chuck need attention"
            )
        log.warning("contact lost during the tile %d %s pass: re-contacting, measuring the "
                    "pass again", tile, target)
        self.recontact()
        return False

    def _read_pass(self, tile: int, rows: int, out: FloatArray, reads: TileReads) -> None:
        """Read the whole tile into `out` (rows, cols), in one batch or row by row; with row
        batching the live view gets each row as it comes (`reads` holds `out`)."""
        s = self.settings
        if s.batching == "tile":
            self._check_stop()
            out[:] = self._call(f"read tile {tile}", lambda: array_ops.read_tile_resistance_ohm(
                self.station, tile, nplc=s.nplc))
            self._advance(rows)
            return
        for row in range(rows):
            self._check_stop()

            def read_row(row: int = row) -> FloatArray:
                return array_ops.read_row_resistance_ohm(self.station, tile, row, nplc=s.nplc)

            out[row] = self._call(f"read row {row} of tile {tile}", read_row)
            self._advance(1)
            self._publish_partial(reads)

    def _call(self, what: str, operation: Callable[[], T]) -> T:
        return self.retry.call(operation, what=what, recover=self.recover)

    def _check_stop(self) -> None:
        if self.should_stop():
            raise StopRequested("stop requested by the operator")

    def _advance(self, units: int) -> None:
        self._units_done += units
        self.on_progress(min(1.0, self._units_done / self._units_total))

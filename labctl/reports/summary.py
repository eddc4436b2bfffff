"""Per-die yield, defect counts and median resistances of a wafer file (inspect, report, GUI).

Yield is the fraction of a die's cells classified ok; medians are taken over ok cells only, so
that shorts and opens do not pull them. Only complete dies have numbers; the others report
None (JSON null) next to their status and failure reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from labctl.core.defects import DefectCode
from labctl.store.layout import DieStatus, TileData
from labctl.store.reader import DieRecord, WaferReader

#: Defect classes counted per die, in DefectCode order (ok is reported separately).
DEFECT_NAMES: tuple[str, ...] = tuple(c.name.lower() for c in DefectCode if c is not DefectCode.OK)


@dataclass(frozen=True)
class CellStats:
    """Counts and ok-cell medians over a set of tiles."""

    cells: int
    ok: int
    defects: dict[str, int]
    median_r_parallel_ohm: float | None
    median_r_antiparallel_ohm: float | None
    median_tmr: float | None
    #: ok cells that missed at least one write (intermittent); None for truth files.
    intermittent: int | None

    @property
    def yield_fraction(self) -> float:
        return self.ok / self.cells if self.cells else 0.0


@dataclass(frozen=True)
class DieSummary:
    """One die's status and, if complete, its cell statistics."""

    name: str
    col: int
    row: int
    status: DieStatus
    started: str
    finished: str
    failure_reason: str
    stats: CellStats | None

    def to_json(self) -> dict[str, Any]:
        """The die's entry of `labctl inspect --json` (stable; see docs/hdf5-format.md)."""
        s = self.stats
        return {
            "col": self.col,
            "row": self.row,
            "status": self.status.value,
            "yield": s.yield_fraction if s else None,
            "cells": s.cells if s else None,
            "ok": s.ok if s else None,
            "defects": dict(s.defects) if s else None,
            "intermittent": s.intermittent if s else None,
            "median_r_parallel_ohm": s.median_r_parallel_ohm if s else None,
            "median_r_antiparallel_ohm": s.median_r_antiparallel_ohm if s else None,
            "median_tmr": s.median_tmr if s else None,
            "started": self.started or None,
            "finished": self.finished or None,
            "failure_reason": self.failure_reason or None,
        }


@dataclass(frozen=True)
class WaferSummary:
    """All dies of a wafer file, in wafer-map order."""

    wafer_id: str
    kind: str
    labctl_format: int
    created: str
    software_version: str
    dies: dict[str, DieSummary]

    def count(self, status: DieStatus) -> int:
        return sum(1 for d in self.dies.values() if d.status is status)

    def to_json(self) -> dict[str, Any]:
        """The object printed by `labctl inspect --json`."""
        return {
            "wafer_id": self.wafer_id,
            "kind": self.kind,
            "labctl_format": self.labctl_format,
            "created": self.created,
            "software_version": self.software_version,
            "dies": {name: die.to_json() for name, die in self.dies.items()},
        }


def cell_stats(tiles: Sequence[TileData]) -> CellStats:
    """Counts and ok-cell medians pooled over `tiles` (which must carry defect maps)."""
    defects = np.concatenate([_defects(t).ravel() for t in tiles])
    ok = defects == DefectCode.OK
    r_p = np.concatenate([t.r_parallel_ohm.ravel() for t in tiles])[ok]
    r_ap = np.concatenate([t.r_antiparallel_ohm.ravel() for t in tiles])[ok]
    tmr = np.concatenate([t.tmr.ravel() for t in tiles])[ok]
    intermittent = None
    if all(t.write_failures is not None for t in tiles):
        failures = np.concatenate([np.asarray(t.write_failures).ravel() for t in tiles])
        intermittent = int(np.count_nonzero(failures[ok]))
    return CellStats(
        cells=int(defects.size),
        ok=int(ok.sum()),
        defects={
            name: int(np.count_nonzero(defects == DefectCode[name.upper()]))
            for name in DEFECT_NAMES
        },
        median_r_parallel_ohm=_median(r_p),
        median_r_antiparallel_ohm=_median(r_ap),
        median_tmr=_median(tmr),
        intermittent=intermittent,
    )


def summarize_die(reader: WaferReader, record: DieRecord) -> DieSummary:
    """Summary of one die of an open wafer file."""
    stats = None
    if record.status is DieStatus.COMPLETE:
        stats = cell_stats(reader.tiles(record.name))
    return DieSummary(
        name=record.name,
        col=record.col,
        row=record.row,
        status=record.status,
        started=record.started,
        finished=record.finished,
        failure_reason=record.failure_reason,
        stats=stats,
    )


def summarize_wafer(reader: WaferReader) -> WaferSummary:
    """Summary of every die of an open wafer file."""
    info = reader.info
    return WaferSummary(
        wafer_id=info.wafer_id,
        kind=info.kind,
        labctl_format=info.labctl_format,
        created=info.created,
        software_version=info.software_version,
        dies={name: summarize_die(reader, rec) for name, rec in reader.dies.items()},
    )


def _defects(tile: TileData) -> np.ndarray:
    if tile.defects is None:
        raise ValueError(f"tile {tile.index} has no defect map (partial tile)")
    return tile.defects


def _median(values: np.ndarray) -> float | None:
    return float(np.median(values)) if values.size else None

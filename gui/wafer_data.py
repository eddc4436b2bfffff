"""What the window shows of a wafer file, read back from the published file on disk.

The sweep publishes each change by atomically replacing the file (labctl.store.publish), so the
GUI can open it at any moment and sees a consistent state. :class:`WaferFileWatcher` re-reads only
when the file changed and keeps the summaries of finished dies, which never change again.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from labctl.core.wafer_map import ALL_DIE_NAMES
from labctl.reports.summary import DieSummary, summarize_die
from labctl.store import DieStatus, TileData, open_wafer


@dataclass(frozen=True)
class WaferSnapshot:
    """Statuses and summaries of every die at one moment (dies absent from the file: pending)."""

    path: Path
    wafer_id: str
    kind: str
    statuses: dict[str, str]
    summaries: dict[str, DieSummary] = field(default_factory=dict)
    #: failed die -> its one-line reason.
    failure_reasons: dict[str, str] = field(default_factory=dict)
    #: dies the file lists (the sweep's selection); the others are not part of this run.
    in_file: frozenset[str] = frozenset()

    def running_dies(self) -> list[str]:
        return [n for n, s in self.statuses.items() if s == DieStatus.RUNNING.value]

    def metric_values(self, key: str) -> dict[str, float | None]:
        """Per-die values of a wafer-map metric from the summaries (complete dies only)."""
        values: dict[str, float | None] = {}
        for name, summary in self.summaries.items():
            stats = summary.stats
            if stats is None:
                continue
            if key == "yield":
                values[name] = stats.yield_fraction
            elif key == "defect_count":
                values[name] = float(sum(stats.defects.values()))
            elif key == "median_tmr":
                values[name] = stats.median_tmr
        return values

    def count(self, status: str) -> int:
        return sum(1 for s in self.statuses.values() if s == status)

    def die_key(self, name: str) -> tuple[str, str, str]:
        """(die, status, finished): changes exactly when a die's stored data can change."""
        summary = self.summaries.get(name)
        return (name, self.statuses.get(name, "pending"), summary.finished if summary else "")

    def unfinished(self) -> list[str]:
        """Dies of the file not complete yet: what a resume would measure."""
        return [n for n in self.statuses if n in self.in_file and self.statuses[n] != "complete"]


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """(inode, mtime, size) of `path`: changes whenever the writer publishes a new version."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class WaferFileWatcher:
    """Reads a wafer file's snapshot and die maps, re-reading only what changed."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # the GUI thread and the file-reader thread share it
        self._stamp: tuple[int, int, int] | None = None
        self._snapshot: WaferSnapshot | None = None
        self._summaries: dict[tuple[str, str], DieSummary] = {}

    def changed(self) -> bool:
        """Whether the file on disk differs from the last snapshot read."""
        return file_stamp(self.path) != self._stamp

    def snapshot(self) -> WaferSnapshot:
        """The current snapshot (read now if the file changed). Raises LabctlError subclasses
        for a missing or unusable file."""
        with self._lock:
            return self._read_snapshot()

    def _read_snapshot(self) -> WaferSnapshot:
        stamp = file_stamp(self.path)
        if self._snapshot is not None and stamp == self._stamp:
            return self._snapshot
        with open_wafer(self.path) as reader:
            statuses = {name: DieStatus.PENDING.value for name in ALL_DIE_NAMES}
            summaries: dict[str, DieSummary] = {}
            reasons: dict[str, str] = {}
            for name, record in reader.dies.items():
                statuses[name] = record.status.value
                if record.failure_reason:
                    reasons[name] = record.failure_reason
                key = (name, record.finished)
                if record.status is DieStatus.COMPLETE:
                    if key not in self._summaries:
                        self._summaries[key] = summarize_die(reader, record)
                    summaries[name] = self._summaries[key]
            self._snapshot = WaferSnapshot(
                path=self.path,
                wafer_id=reader.info.wafer_id,
                kind=reader.info.kind,
                statuses=statuses,
                summaries=summaries,
                failure_reasons=reasons,
                in_file=frozenset(reader.dies),
            )
        self._stamp = stamp
        return self._snapshot

    def die_tiles(self, name: str) -> list[TileData]:
        """The tiles of `name` as published now (partial ones while it runs; none if pending)."""
        with open_wafer(self.path) as reader:
            if name not in reader.dies:
                return []
            return reader.tiles(name)


@dataclass(frozen=True)
class FileUpdate:
    """A snapshot and, when the shown die needs redrawing, its tiles (None: keep the view)."""

    snapshot: WaferSnapshot
    die: str | None
    tiles: list[TileData] | None


def read_update(watcher: WaferFileWatcher, die: str | None,
                shown: tuple[str, str, str] | None) -> FileUpdate:
    """Snapshot plus the tiles of `die` if they may differ from what is shown (`shown` is the
    :meth:`WaferSnapshot.die_key` of the view); a running die is always re-read."""
    snapshot = watcher.snapshot()
    tiles = None
    if die is not None:
        key = snapshot.die_key(die)
        if key[1] == DieStatus.RUNNING.value or key != shown:
            tiles = watcher.die_tiles(die)
    return FileUpdate(snapshot, die, tiles)

"""The wafer file writer: one HDF5 file per wafer, which is also the sweep's resume ledger.

Life of a die: ``pending`` -> ``begin_die`` (``running``) -> per tile ``write_tile`` (held in
memory) and, for the live view, ``update_partial`` + ``checkpoint`` -> ``complete_die``
(``complete``: data and status published together) or ``fail_die`` (``failed`` with a reason).

Every call that changes the file publishes a new file atomically (:mod:`labctl.store.publish`):
the last clean state (finished dies, no partial data) is kept as a hard-linked snapshot, copied
into a temporary file, the change and the running die's data are written, and the file replaces
the published one. A kill -9 leaves the previous or the new file, never a damaged one, and a reader
can open the file at any time. :meth:`WaferFile.open_for_resume` turns dies left ``running`` back
into ``pending`` and removes stray temporary files.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np
from filelock import FileLock, Timeout
from numpy.typing import ArrayLike

from labctl import __version__
from labctl.analysis.classify import (
    ClassifierConfig,
    TileClassification,
    as_read_stack,
    classify_tile,
)
from labctl.core.errors import DataFormatError, LabctlError
from labctl.core.wafer_map import ALL_DIE_NAMES, parse_die_name
from labctl.store import validate
from labctl.store.layout import (
    DIES,
    FORMAT_VERSION,
    KIND_MEASUREMENT,
    DieStatus,
    TileData,
    parse_tile_group_name,
    to_json,
    utc_now_iso,
    write_tile_group,
)
from labctl.store.publish import check_output_path, publish, remove_stray_files, snapshot
from labctl.store.reader import WaferReader, die_sort_key


def resolve_die_selection(selection: str | Iterable[str] | None) -> list[str]:
    """Die names in wafer-map order from ``None`` / ``"all"`` (all 36), a comma-separated string
    or an iterable of names; LabctlError naming any unknown die."""
    if selection is None or selection == "all":
        return list(ALL_DIE_NAMES)
    raw = selection.split(",") if isinstance(selection, str) else list(selection)
    names = [n.strip() for n in raw if n.strip()]
    unknown = [n for n in names if n not in ALL_DIE_NAMES]
    if unknown:
        shown = ", ".join(n.encode("unicode_escape").decode("ascii")[:40] for n in unknown[:8])
        raise LabctlError(
            f"unknown die name(s): {shown} (dies are die_<col>_<row> on the 36-die "
            f"map, e.g. {ALL_DIE_NAMES[0]}, {ALL_DIE_NAMES[-1]})"
        )
    if not names:
        raise LabctlError("empty die selection")
    return sorted(dict.fromkeys(names), key=die_sort_key)


@dataclass
class _RunningDie:
    """What the writer holds of a die between begin_die and complete_die / fail_die."""

    started: str
    tiles: dict[int, TileData] = field(default_factory=dict)
    partial: dict[int, TileData] = field(default_factory=dict)


class WaferFile:
    """Writer of one wafer file. Create with :meth:`create` or :meth:`open_for_resume`."""

    def __init__(self, path: Path, statuses: dict[str, DieStatus], lock: _WriterLock) -> None:
        self.path = path
        self._statuses = statuses
        self._lock = lock
        self._base = snapshot(path)
        self._running: dict[str, _RunningDie] = {}
        self._last_checkpoint_s = -float("inf")
        self.classifier = ClassifierConfig()

    # --- opening --------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | Path,
        wafer_id: str,
        station: Mapping[str, Any] | str,
        procedure: Mapping[str, Any] | str,
        dies: Iterable[str] | None = None,
    ) -> WaferFile:
        """Create a new wafer file with every selected die ``pending``.

        LabctlError if `path` exists (resume it instead) or cannot be written; nothing is
        created then.
        """
        path = Path(path)
        if path.exists():
            raise LabctlError(f"{path} already exists; resume it or choose another output")
        check_output_path(path)
        names = resolve_die_selection(dies)
        if validate.printable(str(wafer_id)) != str(wafer_id) or \
                len(str(wafer_id)) > validate.MAX_TEXT_CHARS:
            raise LabctlError(f"wafer id {validate.quoted(str(wafer_id))} holds control "
                              f"characters or is longer than {validate.MAX_TEXT_CHARS}")
        station_json, procedure_json = to_json(station), to_json(procedure)
        lock = _WriterLock.acquire(path)
        try:
            remove_stray_files(path)  # a writer killed while creating this file left them

            def build(h5: h5py.File) -> None:
                write_root_attrs(h5, KIND_MEASUREMENT, wafer_id, station_json, procedure_json)
                group = h5.create_group(DIES)
                group.attrs["NX_class"] = "NXentry"
                for name in names:
                    _set_die_attrs(group.create_group(name), name, DieStatus.PENDING)

            publish(path, None, build)
        except BaseException:
            lock.release()
            raise
        return cls(path, dict.fromkeys(names, DieStatus.PENDING), lock)

    @classmethod
    def open_for_resume(cls, path: str | Path) -> WaferFile:
        """Open an existing measurement file to finish it: stray temporary files are removed and
        dies left ``running`` by a killed sweep become ``pending`` again (their partial data is
        dropped; the file is rewritten compactly)."""
        path = Path(path)
        validate.open_hdf5_read_only(path).close()  # missing, not a file, not HDF5: no lock file
        lock = _WriterLock.acquire(path)  # before validating: no writer can change it after
        try:
            with WaferReader(path) as reader:  # validated (labctl.store.validate)
                if reader.info.kind != KIND_MEASUREMENT:
                    raise DataFormatError(
                        f"{path} is a {reader.info.kind} file, not a measurement"
                    )
                statuses = {name: rec.status for name, rec in reader.dies.items()}
                for name, status in statuses.items():  # values too: the resumed file keeps them
                    if status is DieStatus.COMPLETE:
                        reader.tiles(name)
            remove_stray_files(path)
            running = [n for n, s in statuses.items() if s is DieStatus.RUNNING]
            if running:
                publish(path, None, lambda h5: _rebuild_without(h5, path, running))
                statuses.update(dict.fromkeys(running, DieStatus.PENDING))
        except BaseException:
            lock.release()
            raise
        return cls(path, statuses, lock)

    def close(self) -> None:
        """Drop the base snapshot and release the single-writer lock. Dies still running stay
        as last published (a resume redoes them)."""
        self._base.unlink(missing_ok=True)
        self._lock.release()

    def __enter__(self) -> WaferFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- queries --------------------------------------------------------------------------------
    def statuses(self) -> dict[str, DieStatus]:
        """Every die in the file and its status, in wafer-map order."""
        return {n: self._statuses[n] for n in sorted(self._statuses, key=die_sort_key)}

    def pending_dies(self, selection: str | Iterable[str] | None = None) -> list[str]:
        """Dies of `selection` (default: all dies in the file) that are not complete, in
        wafer-map order: what a (resumed) sweep still has to measure."""
        names = list(self.statuses()) if selection is None else resolve_die_selection(selection)
        return [n for n in names if self._statuses.get(n) is not DieStatus.COMPLETE]

    # --- a die's life ---------------------------------------------------------------------------
    def begin_die(self, name: str) -> None:
        """Mark `name` running (published) and start holding its tiles."""
        parse_die_name(name)
        if self._statuses.get(name) is DieStatus.COMPLETE:
            raise LabctlError(f"{name} is already complete in {self.path}")
        started = utc_now_iso()

        def change(h5: h5py.File) -> None:
            group = h5[DIES].require_group(name)
            _drop_tiles(group)
            _set_die_attrs(group, name, DieStatus.RUNNING, started=started)

        self._publish(change, clean=True)
        self._statuses[name] = DieStatus.RUNNING
        self._running[name] = _RunningDie(started=started)

    def write_tile(
        self,
        name: str,
        tile: int,
        reads_parallel_ohm: ArrayLike,
        reads_antiparallel_ohm: ArrayLike,
        classification: TileClassification | None = None,
    ) -> TileClassification:
        """Hold a finished tile's raw reads (cycles, rows, cols) and classification (computed
        here from the reads unless given). Published by :meth:`complete_die` (or a checkpoint)."""
        die = self._running_die(name)
        reads_p = as_read_stack(reads_parallel_ohm, "reads_parallel_ohm")
        reads_ap = as_read_stack(reads_antiparallel_ohm, "reads_antiparallel_ohm")
        result = classification or classify_tile(reads_p, reads_ap, self.classifier)
        if result.shape != reads_p.shape[1:] or result.shape != reads_ap.shape[1:]:
            raise ValueError(f"tile {tile}: reads and classification differ in shape")
        die.tiles[tile] = TileData(
            index=tile,
            r_parallel_ohm=result.r_parallel_ohm,
            r_antiparallel_ohm=result.r_antiparallel_ohm,
            tmr=result.tmr,
            defects=result.defects,
            write_failures=result.write_failures,
            thresholds=result.thresholds,
            reads_parallel_ohm=reads_p,
            reads_antiparallel_ohm=reads_ap,
        )
        die.partial.pop(tile, None)
        return result

    def update_partial(
        self,
        name: str,
        tile: int,
        reads_parallel_ohm: ArrayLike,
        reads_antiparallel_ohm: ArrayLike,
        rows_done: int,
    ) -> None:
        """Hold a tile being measured, for the next :meth:`checkpoint`: full-size (cycles, rows,
        cols) reads with NaN where nothing was read yet; `rows_done` is the progress to show."""
        die = self._running_die(name)
        reads_p = np.asarray(as_read_stack(reads_parallel_ohm, "reads_parallel_ohm"))
        reads_ap = np.asarray(as_read_stack(reads_antiparallel_ohm, "reads_antiparallel_ohm"))
        if reads_p.shape[1:] != reads_ap.shape[1:]:
            raise ValueError(f"tile {tile}: P reads {reads_p.shape} and AP {reads_ap.shape} differ")
        if not 0 <= rows_done <= reads_p.shape[1]:
            raise ValueError(f"rows_done {rows_done} outside 0 ... {reads_p.shape[1]}")
        with np.errstate(all="ignore"), _quiet_all_nan():
            r_p = np.nanmedian(reads_p, axis=0)
            r_ap = np.nanmedian(reads_ap, axis=0)
        die.partial[tile] = TileData(
            index=tile,
            r_parallel_ohm=r_p,
            r_antiparallel_ohm=r_ap,
            tmr=r_ap / r_p - 1.0,
            rows_done=rows_done,
        )

    def checkpoint_due(self, min_interval_s: float) -> bool:
        """Whether a :meth:`checkpoint` with this interval would publish now (lets a caller skip
        preparing partial data that would not be published)."""
        return time.monotonic() - self._last_checkpoint_s >= min_interval_s

    def checkpoint(self, name: str, min_interval_s: float = 0.0) -> bool:
        """Publish the running die as it stands (finished and partial tiles, status running), so
        that readers see it fill in. Skipped, returning False, if the previous checkpoint is less
        than `min_interval_s` old. Costs one copy of the file (see docs/hdf5-format.md)."""
        die = self._running_die(name)
        if not self.checkpoint_due(min_interval_s):
            return False
        tiles = {**die.tiles, **die.partial}

        def change(h5: h5py.File) -> None:
            group = h5[DIES][name]
            group.attrs["tiles_done"] = sorted(die.tiles)
            for k in sorted(tiles):
                write_tile_group(group, tiles[k])

        self._publish(change, clean=False)
        self._last_checkpoint_s = time.monotonic()
        return True

    def complete_die(self, name: str) -> None:
        """Publish every tile of `name` with status complete, in one atomic replace."""
        die = self._running_die(name)
        indices = sorted(die.tiles)
        if not indices or indices != list(range(len(indices))):
            raise ValueError(f"{name}: tiles {indices} written; need tiles 0 ... n-1")
        finished = utc_now_iso()

        def change(h5: h5py.File) -> None:
            dies = h5[DIES]
            group = dies[name]
            _drop_tiles(group)
            for k in indices:
                write_tile_group(group, die.tiles[k])
            if "tiles_done" in group.attrs:
                del group.attrs["tiles_done"]
            group.attrs["NX_class"] = "NXsubentry"
            group.attrs["default"] = "tile_0"
            if "default" not in dies.attrs:
                dies.attrs["default"] = name
            _set_die_attrs(group, name, DieStatus.COMPLETE, started=die.started, finished=finished)

        self._publish(change, clean=True)
        self._statuses[name] = DieStatus.COMPLETE
        del self._running[name]

    def fail_die(self, name: str, reason: str) -> None:
        """Publish `name` as failed with a one-line `reason`; any data it had is dropped."""
        parse_die_name(name)
        die = self._running.pop(name, None)
        finished = utc_now_iso()
        reason_line = " ".join(validate.printable(str(reason))[:1000].split()) or "unknown failure"

        def change(h5: h5py.File) -> None:
            group = h5[DIES].require_group(name)
            _drop_tiles(group)
            if "tiles_done" in group.attrs:
                del group.attrs["tiles_done"]
            _set_die_attrs(
                group,
                name,
                DieStatus.FAILED,
                started=die.started if die else "",
                finished=finished,
                failure_reason=reason_line,
            )

        self._publish(change, clean=True)
        self._statuses[name] = DieStatus.FAILED

    # --- internals ------------------------------------------------------------------------------
    def _running_die(self, name: str) -> _RunningDie:
        die = self._running.get(name)
        if die is None:
            raise ValueError(f"{name} is not running; call begin_die({name!r}) first")
        return die

    def _publish(self, change: Callable[[h5py.File], None], clean: bool) -> None:
        """Publish base snapshot + `change`; a clean result (no partial data) becomes the new
        base, so that partial data never accumulates in the file."""
        publish(self.path, self._base, change)
        if clean:
            self._base = snapshot(self.path)


def write_root_attrs(
    h5: h5py.File, kind: str, wafer_id: str, station_json: str, procedure_json: str
) -> None:
    """Root attributes of a new wafer file (NeXus root, format version, provenance)."""
    h5.attrs["labctl_format"] = np.int64(FORMAT_VERSION)
    h5.attrs["kind"] = kind
    h5.attrs["wafer_id"] = str(wafer_id)
    h5.attrs["created"] = utc_now_iso()
    h5.attrs["software_version"] = __version__
    h5.attrs["station"] = station_json
    h5.attrs["procedure"] = procedure_json
    h5.attrs["NX_class"] = "NXroot"
    h5.attrs["default"] = DIES


def _set_die_attrs(
    group: h5py.Group,
    name: str,
    status: DieStatus,
    started: str = "",
    finished: str = "",
    failure_reason: str = "",
) -> None:
    col, row = parse_die_name(name)
    group.attrs["col"] = np.int64(col)
    group.attrs["row"] = np.int64(row)
    group.attrs["status"] = status.value
    group.attrs["started"] = started
    group.attrs["finished"] = finished
    group.attrs["failure_reason"] = failure_reason
    if "NX_class" not in group.attrs:
        group.attrs["NX_class"] = "NXsubentry"


def _drop_tiles(group: h5py.Group) -> None:
    for key in [k for k in group if parse_tile_group_name(k) is not None]:
        del group[key]


def _rebuild_without(h5: h5py.File, source_path: Path, reset: list[str]) -> None:
    """Fill the empty file `h5` with `source_path`'s content, dies in `reset` made pending."""
    with validate.open_checked(source_path) as src:
        for key, value in src.attrs.items():
            h5.attrs[key] = value
        dies = h5.create_group(DIES)
        for key, value in src[DIES].attrs.items():
            dies.attrs[key] = value
        for name in src[DIES]:
            if name in reset:
                _set_die_attrs(dies.create_group(name), name, DieStatus.PENDING)
            else:
                src.copy(src[DIES][name], dies, name=name)


@contextlib.contextmanager
def _quiet_all_nan() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="All-NaN slice encountered")
        yield


@contextlib.contextmanager
def reserved_writer(path: str | Path) -> Iterator[None]:
    """Take `path`'s single-writer lock now and hold it for the block: a run takes it before it
    connects its station, so a second writer of the file is refused before it sends a byte
    (and its shutdown cannot switch off the first run's instruments). Inside the block, this
    process's own :class:`WaferFile` and programmed-run writes use the reserved lock."""
    lock = _WriterLock.acquire(Path(path))
    key = _lock_key(lock.lock_path)
    with _RESERVED_GUARD:
        _RESERVED[key] = lock
    try:
        yield
    finally:
        with _RESERVED_GUARD:
            _RESERVED.pop(key, None)
        lock.release()


#: Locks reserved by :func:`reserved_writer` in this process, by lock file, and whether lent.
_RESERVED: dict[str, _WriterLock] = {}
_RESERVED_GUARD = threading.Lock()


def _lock_key(lock_path: Path) -> str:
    return os.path.realpath(lock_path)


class _WriterLock:
    """Lock on a hidden file beside the wafer file: one writer at a time, on POSIX (flock) and
    Windows (LockFileEx) alike, through filelock. The OS drops it when the process dies, so a
    killed sweep never blocks its resume; the lock file is removed on release. A lock reserved
    by :func:`reserved_writer` is lent to one writer of this process at a time."""

    def __init__(self, lock_path: Path, lock: FileLock | None,
                 lender: _WriterLock | None = None) -> None:
        self.lock_path = lock_path
        self._lock = lock
        self._lender = lender
        self.lent = False

    @classmethod
    def acquire(cls, path: Path) -> _WriterLock:
        lock_path = path.with_name(f".{path.name}.lock")
        with _RESERVED_GUARD:
            reserved = _RESERVED.get(_lock_key(lock_path))
            if reserved is not None and not reserved.lent:
                reserved.lent = True
                return cls(lock_path, None, lender=reserved)
        lock = FileLock(lock_path, timeout=0, thread_local=False)
        try:
            lock.acquire()
        except Timeout:
            raise LabctlError(f"{path} is being written by another labctl process") from None
        except OSError as exc:
            raise LabctlError(f"cannot write {path}: {exc.strerror or exc}") from exc
        return cls(lock_path, lock)

    def release(self) -> None:
        if self._lender is not None:
            with _RESERVED_GUARD:
                self._lender.lent = False
            self._lender = None
            return
        if self._lock is None:
            return
        # Removed while still held (filelock never takes an inode unlinked under it); on Windows
        # the open file cannot be removed here and filelock removes it on release.
        with contextlib.suppress(OSError):
            self.lock_path.unlink()
        self._lock.release()
        self._lock = None

"""Crash-safe publication of an HDF5 file: build a temporary file beside it, fsync, rename.

HDF5 is not journaled: a process killed while it updates a file in place can leave metadata half
written. labctl therefore never modifies a published wafer file. Each change is written into a
temporary file in the same directory (a copy of a base snapshot, then the change), closed,
fsync'ed and moved over the published name with ``os.replace`` (atomic on POSIX and Windows).
Windows refuses to replace a file that another program holds open (a viewer, a virus scanner
that is reading it): there the replace is retried for :data:`REPLACE_WAIT_s` before it fails.
A reader, or a kill -9 at any moment, sees either the old or the new file; stray temporary files
are removed by the next :func:`remove_stray_files` (the writer's resume).

Before each publish the free space of the folder is checked (:func:`check_free_space`: the copy
needs the base's size plus a margin), so a full disk is one error line with the published file
as it was (it resumes), never a crash inside HDF5's close; a read-only folder is the same. The
publish runs with stop signals deferred (labctl.station.deferred): a Ctrl-C lands after it.

The base snapshot is a hard link to a published file (:func:`snapshot`): published files are
never written again, so the link keeps that state for free, and copies use the kernel's
``copy_file_range`` (a reflink on filesystems that support it) instead of Python I/O.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import h5py

from labctl.core.errors import LabctlError
from labctl.station.deferred import deferred_signals

_TEMP_SUFFIX = ".tmp"
#: Free space a publish needs beyond the copy of its base: the change itself (a die's tiles
#: are a few MB) and HDF5's metadata, with room to spare.
FREE_SPACE_MARGIN_BYTES = 64 * 2**20
#: How long a replace refused with PermissionError is retried (Windows: the target is open in
#: another program); on POSIX that error means the folder is not writable, so it is not retried.
REPLACE_WAIT_s = 10.0
RETRY_REFUSED_REPLACE = sys.platform == "win32"


def temp_path_for(path: Path) -> Path:
    """A fresh hidden temporary name in `path`'s directory, recognisable by its prefix."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{_TEMP_SUFFIX}")


def snapshot_path_for(path: Path) -> Path:
    """Where the writer of `path` keeps its base snapshot."""
    return path.with_name(f".{path.name}.base")


def stray_files(path: Path) -> list[Path]:
    """Temporary files that a writer of `path` killed mid-publish may have left behind."""
    return sorted(path.parent.glob(f".{glob_escape(path.name)}.*{_TEMP_SUFFIX}"))


def remove_stray_files(path: Path) -> list[Path]:
    """Delete :func:`stray_files` and any base snapshot of `path`; returns what was removed."""
    removed = []
    for stray in [*stray_files(path), snapshot_path_for(path)]:
        with contextlib.suppress(FileNotFoundError):
            stray.unlink()
            removed.append(stray)
    return removed


def glob_escape(name: str) -> str:
    """`name` with glob metacharacters bracketed, so it matches only itself."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def check_output_path(path: Path) -> None:
    """Raise LabctlError unless a new file could be created at `path` (its directory exists and
    is writable)."""
    parent = path.parent
    if not parent.exists():
        raise LabctlError(f"cannot write {path}: directory {parent} does not exist")
    if not parent.is_dir():
        raise LabctlError(f"cannot write {path}: {parent} is not a directory")
    if path.is_dir():
        raise LabctlError(f"cannot write {path}: it is a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise LabctlError(f"cannot write {path}: directory {parent} is not writable")


def publish(path: Path, base: Path | None, change: Callable[[h5py.File], None]) -> None:
    """Copy `base` (None: start a new empty HDF5 file) to a temporary file, apply `change` to it
    through h5py, make it durable and atomically move it to `path`.

    On any exception the temporary file is removed and `path` is left as it was.
    """
    check_free_space(path, base)
    with deferred_signals():
        _publish(path, base, change)


def check_free_space(path: Path, base: Path | None) -> None:
    """LabctlError (one line) unless `path`'s folder has room for a copy of `base` plus
    :data:`FREE_SPACE_MARGIN_BYTES`."""
    needed = FREE_SPACE_MARGIN_BYTES + (base.stat().st_size if base is not None else 0)
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError as exc:
        raise LabctlError(f"cannot write {path}: {_reason(exc)}") from exc
    if free < needed:
        raise LabctlError(
            f"cannot write {path}: {free / 2**20:.0f} MiB free in {path.parent}, a publish "
            f"needs {needed / 2**20:.0f} MiB; the file is unchanged: free space, then resume"
        )


def _publish(path: Path, base: Path | None, change: Callable[[h5py.File], None]) -> None:
    tmp = temp_path_for(path)
    try:
        if base is None:
            with h5py.File(tmp, "w") as h5:
                change(h5)
        else:
            copy_file(base, tmp)
            with h5py.File(tmp, "r+") as h5:
                change(h5)
        _fsync_file(tmp)
        replace_file(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LabctlError(f"cannot write {path}: {_reason(exc)}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def snapshot(path: Path) -> Path:
    """Keep the current content of published `path` as the base of later publishes: a hard link
    (no copy) where the filesystem allows, else a copy. Returns the snapshot's path."""
    target = snapshot_path_for(path)
    staging = temp_path_for(path)
    try:
        try:
            os.link(path, staging)
        except OSError:
            copy_file(path, staging)
        replace_file(staging, target)
    except OSError as exc:
        staging.unlink(missing_ok=True)
        raise LabctlError(f"cannot write beside {path}: {_reason(exc)}") from exc
    return target


def replace_file(source: Path, target: Path, wait_s: float | None = None) -> None:
    """``os.replace(source, target)``; where :data:`RETRY_REFUSED_REPLACE` (Windows), a
    PermissionError is retried with a growing pause for ``wait_s`` (default
    :data:`REPLACE_WAIT_s`) before it is raised."""
    deadline = time.monotonic() + (REPLACE_WAIT_s if wait_s is None else wait_s)
    pause_s = 0.01
    while True:
        try:
            os.replace(source, target)
            return
        except PermissionError:
            if not RETRY_REFUSED_REPLACE or time.monotonic() >= deadline:
                raise
        time.sleep(pause_s)
        pause_s = min(2 * pause_s, 0.5)


def _reason(exc: OSError) -> str:
    reason = str(exc.strerror or exc)
    if isinstance(exc, PermissionError) and RETRY_REFUSED_REPLACE:
        reason += " (is the file open in another program?)"
    return reason


def copy_file(source: Path, target: Path) -> None:
    """Byte copy inside the kernel (copy_file_range, reflink where supported), else shutil."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        size = os.fstat(src.fileno()).st_size
        copied = 0
        try:
            while copied < size:
                n = os.copy_file_range(src.fileno(), dst.fileno(), size - copied)
                if n == 0:
                    break
                copied += n
        except (AttributeError, OSError):
            copied = -1
        if copied != size:
            src.seek(0)
            dst.seek(0)
            dst.truncate()
            shutil.copyfileobj(src, dst, 1 << 20)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

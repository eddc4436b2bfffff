"""One owner per station: an exclusive lock per instrument resource, taken before the first byte.

Two processes driving the same instruments corrupt each other's measurements and one's shutdown
switches off the other's outputs. Every command, the GUI's instruments panel and sweeps take
:class:`StationLock` before connecting; a second process is refused with one line naming the
holder and sends nothing.

How it works (docs/reliability.md, "Exits"):

- One lock file per VISA resource (so two station files sharing an SMU exclude each other), in a
  per-user runtime folder (``$LABCTL_LOCK_DIR``, else ``$XDG_RUNTIME_DIR/labctl/locks``, else
  ``<tmp>/labctl-<uid>/locks``) that only its owner may write (mode 0700, checked). The locks
  are taken in sorted order with filelock (``flock`` on POSIX, ``LockFileEx`` on Windows), which
  the OS drops when the process dies: a killed run never blocks the next.
- The lock file holds its holder (pid, host, command, start time) as JSON, for the refusal.
- The lock cannot be removed while held: the holder keeps a second name (``<key>.held``) for the
  locked file. A newcomer that locked a *different* file at the lock path (the first was deleted
  or replaced by hand) finds ``<key>.held`` still locked by the holder and is refused; the
  holder's :meth:`StationLock.verify` (every second, from the session's heartbeat) puts the
  locked file back under the lock path if it was removed or replaced.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import socket
import stat
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from labctl.core.errors import LabctlError
from labctl.station.config import StationConfig

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the .held check needs flock
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: Environment variable naming the lock folder (tests, or a folder shared by several users'
#: accounts that drive one bench).
LOCK_DIR_ENV = "LABCTL_LOCK_DIR"


class StationBusy(LabctlError):
    """The station (one of its instruments) is in use by another process; nothing was sent."""


def lock_dir() -> Path:
    """The per-user folder of the station locks, created private (0700) if missing."""
    configured = os.environ.get(LOCK_DIR_ENV)
    if configured:
        folder = Path(configured)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        folder = Path(os.environ["XDG_RUNTIME_DIR"]) / "labctl" / "locks"
    else:
        uid = os.getuid() if hasattr(os, "getuid") else os.getlogin()
        folder = Path(tempfile.gettempdir()) / f"labctl-{uid}" / "locks"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise LabctlError(f"cannot create the station lock folder {folder}: "
                          f"{exc.strerror or exc}") from exc
    if hasattr(os, "getuid"):
        info = folder.stat()
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise LabctlError(f"station lock folder {folder} is writable by other accounts; "
                              "make it private (chmod 700) or set LABCTL_LOCK_DIR")
    return folder


def resource_key(resource: str) -> str:
    """A file-name-safe key of one VISA resource (case and blanks do not matter)."""
    normal = "".join(resource.split()).upper()
    return "res-" + hashlib.sha256(normal.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: written into the lock file, shown in the refusal."""

    pid: int
    host: str
    command: str
    since: str

    @classmethod
    def me(cls, purpose: str) -> Holder:
        command = " ".join(["labctl", *sys.argv[1:]]) if sys.argv else "labctl"
        return cls(os.getpid(), socket.gethostname(), f"{purpose}: {command}"[:200],
                   dt.datetime.now().astimezone().isoformat(timespec="seconds"))

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} ({self.command}, since {self.since})"


def read_holder(path: Path) -> Holder | None:
    """The holder recorded in a lock file, or None if unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8")[:4096])
        return Holder(int(data["pid"]), str(data["host"]), str(data["command"]),
                      str(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class _ResourceLock:
    """The lock of one resource: ``<key>.lock`` locked, ``<key>.held`` a second name of it."""

    def __init__(self, folder: Path, resource: str, holder: Holder) -> None:
        self.resource = resource
        key = resource_key(resource)
        self.path = folder / f"{key}.lock"
        self.held_path = folder / f"{key}.held"
        self._holder = holder
        self._lock = FileLock(self.path, timeout=0, thread_local=False,
                              preserve_lock_file=True, fallback_to_soft=False,
                              on_acquired=self._record_holder)
        self._inode: tuple[int, int] | None = None

    def _record_holder(self, fd: int) -> None:
        info = os.fstat(fd)
        self._inode = (info.st_dev, info.st_ino)
        text = json.dumps(self._holder.__dict__).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, text, 0)

    def acquire(self) -> None:
        try:
            self._lock.acquire()
        except Timeout:
            raise self._busy(self.path) from None
        except OSError as exc:
            raise LabctlError(f"cannot lock {self.resource} ({self.path}): "
                              f"{exc.strerror or exc}") from exc
        try:
            self._claim_held_name()
        except BaseException:
            self._lock.release()
            raise

    def _claim_held_name(self) -> None:
        """Refuse if ``.held`` names another file still locked (the lock file was replaced);
        otherwise make ``.held`` name the file this process locked."""
        if fcntl is not None and self.held_path.exists() and not self._same_file(self.held_path):
            with contextlib.suppress(FileNotFoundError):
                fd = os.open(self.held_path, os.O_RDONLY)
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except OSError:
                    raise self._busy(self.held_path) from None
                finally:
                    os.close(fd)
        self._link(self.path, self.held_path)

    def verify(self) -> bool:
        """Put the locked file back under the lock path if it was removed or replaced;
        False if neither name is left (the lock can no longer be shown to others)."""
        for name, other in ((self.path, self.held_path), (self.held_path, self.path)):
            if self._same_file(name):
                continue
            if not self._same_file(other):
                return False
            log.error("station lock %s was removed or replaced while held: restored", name)
            self._link(other, name)
        return True

    def release(self) -> None:
        if self._same_file(self.held_path):
            with contextlib.suppress(OSError):
                self.held_path.unlink()
        self._lock.release()

    def _same_file(self, path: Path) -> bool:
        try:
            info = os.stat(path)
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == self._inode

    @staticmethod
    def _link(source: Path, target: Path) -> None:
        staging = target.with_name(f"{target.name}.{os.getpid()}-{threading.get_ident()}")
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
        os.link(source, staging)
        os.replace(staging, target)

    def _busy(self, path: Path) -> StationBusy:
        holder = read_holder(path)
        who = holder.describe() if holder is not None else "another process"
        return StationBusy(f"station in use: {self.resource} is held by {who}; nothing was "
                           "sent")


class StationLock:
    """Exclusive ownership of every instrument of a station, for one process (a context
    manager). :meth:`acquire` raises :class:`StationBusy` (one line naming the holder)."""

    def __init__(self, config: StationConfig, purpose: str) -> None:
        self.config = config
        self.holder = Holder.me(purpose)
        instruments = [*config.instruments.values(), *getattr(config, "read_channels", ())]
        resources = sorted({i.resource for i in instruments})
        folder = lock_dir()
        self._locks = [_ResourceLock(folder, resource, self.holder) for resource in resources]
        self._held: list[_ResourceLock] = []

    @property
    def paths(self) -> list[Path]:
        return [lock.path for lock in self._locks]

    def acquire(self) -> StationLock:
        try:
            for lock in self._locks:
                lock.acquire()
                self._held.append(lock)
        except BaseException:
            self.release()
            raise
        return self

    def verify(self) -> bool:
        """Repair removed or replaced lock files (see the module docstring); False if a lock
        can no longer be shown to other processes."""
        return all(lock.verify() for lock in self._held)

    def release(self) -> None:
        while self._held:
            lock = self._held.pop()
            try:
                lock.release()
            except OSError as exc:  # released by the OS at exit anyway
                log.warning("releasing the lock of %s: %s", lock.resource, exc)

    def __enter__(self) -> StationLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

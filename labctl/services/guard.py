"""The guard: a small process that makes the station safe when the process measuring dies.

No signal handler survives kill -9, a native crash (a segfault in a C extension) or the OOM
killer. So a :func:`~labctl.services.station_session.station_session` on a real (or separately
served) station starts ``python -m labctl.services.guard`` beside itself, in its own session (a
Ctrl-C or a dropped terminal does not reach it), with a pipe on its stdin:

1. The parent writes one JSON line: the station (as a station file's document), its pid and
   purpose.
2. When the parent ends its session normally (station safe, confirmed by read-back) it writes
   ``done`` and closes the pipe: the guard exits without sending a byte.
3. When the pipe reaches end-of-file without ``done`` (the parent died, or could not confirm the
   safe state), the guard takes the station lock (waiting up to :data:`TAKEOVER_WAIT_s` for the
   OS to release the dead parent's), connects and runs the safe state itself, and reports what
   the read-back found on stderr. Another process holding the lock by then owns the station:
   the guard leaves it alone.

The array controller's watchdog (docs/array-controller-protocol.md) covers what even the guard
does not survive (a power cut of the host): it de-routes every line when the host goes quiet.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from typing import IO, Any

from labctl.core.errors import LabctlError
from labctl.services.station_lock import StationBusy, StationLock
from labctl.station.config import StationConfig, parse_station_config
from labctl.station.station import Station

log = logging.getLogger(__name__)

#: How long the guard waits for the dead parent's lock to be released by the OS (s).
TAKEOVER_WAIT_s = 10.0
#: Connection attempts per instrument when taking over.
TAKEOVER_CONNECT_ATTEMPTS = 3
#: What the parent writes when its session ended with the station confirmed safe.
DONE = "done"


def station_document(config: StationConfig) -> dict[str, Any]:
    """``config`` as the document of a station file (parsed again, so validated again)."""
    return {
        "station": {"name": config.name, "visa_library": config.visa_library},
        "limits": asdict(config.limits),
        "instruments": {
            str(role): {"driver": i.driver, "resource": i.resource, "timeout_s": i.timeout_s}
            for role, i in config.instruments.items()
        },
    }


class GuardProcess:
    """The parent's handle on its guard (see the module docstring)."""

    def __init__(self, config: StationConfig, purpose: str) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "labctl.services.guard"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=None,
            start_new_session=True, close_fds=True, text=True,
        )
        stdin = self._process.stdin
        assert stdin is not None
        self._stdin: IO[str] | None = stdin
        message = {"station": station_document(config), "parent": os.getpid(),
                   "purpose": purpose}
        stdin.write(json.dumps(message) + "\n")
        stdin.flush()

    @property
    def pid(self) -> int:
        return self._process.pid

    def finish(self, station_safe: bool) -> None:
        """End the guard: with ``station_safe`` it exits untouched; otherwise it takes over as
        soon as this process has released the station (a second, independent attempt)."""
        stdin, self._stdin = self._stdin, None
        if stdin is None:
            return
        with contextlib.suppress(OSError):
            if station_safe:
                stdin.write(DONE + "\n")
            stdin.close()
        if station_safe:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5.0)


def _take_over(config: StationConfig, parent: int, purpose: str) -> int:
    say(f"process {parent} ({purpose}) ended without confirming the station safe: "
        "taking over")
    lock = StationLock(config, f"guard of pid {parent}")
    deadline = time.monotonic() + TAKEOVER_WAIT_s
    while True:
        try:
            lock.acquire()
            break
        except StationBusy as exc:
            if time.monotonic() >= deadline:
                say(f"leaving the station alone: {exc}")
                return 1
            time.sleep(0.05)
    try:
        station = Station.connect(config, attempts=TAKEOVER_CONNECT_ATTEMPTS)
        try:
            report = station.safe_state()
        finally:
            station.close()
    except LabctlError as exc:
        say(f"could not make the station safe: {exc}")
        return 1
    finally:
        lock.release()
    say(f"station safe, confirmed by read-back: {report.describe()}")
    return 0


def say(text: str) -> None:
    print(f"labctl guard: {text}", file=sys.stderr, flush=True)


def main() -> int:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):  # the parent's to handle
        signal.signal(sig, signal.SIG_IGN)
    first = sys.stdin.readline()
    try:
        message = json.loads(first)
        config = parse_station_config(message["station"])
        parent, purpose = int(message["parent"]), str(message["purpose"])
    except (ValueError, KeyError, TypeError, LabctlError) as exc:
        say(f"bad start message: {exc}")
        return 2
    for line in sys.stdin:
        if line.strip() == DONE:
            return 0
    return _take_over(config, parent, purpose)


if __name__ == "__main__":
    sys.exit(main())

"""Every use of the station, made safe on every way out: ``with station_session(...) as station``.

Every command and GUI action that touches the station goes through here, so that each gets:

1. **One owner**: the station lock (:mod:`labctl.services.station_lock`) is taken before the
   first byte is sent; a second process is refused with one line naming the holder.
2. **Stop signals handled**: SIGINT, SIGTERM, SIGHUP (a dropped SSH session) and SIGQUIT request
   a clean stop (main thread only, Python's rule): by default the first raises
   :class:`SessionStopped` (a ``KeyboardInterrupt``: ``except Exception`` does not swallow it);
   a sweep passes ``on_signal`` so that the first finishes the current row (the runner's
   graceful stop) and only a second one interrupts.
3. **Safe state on every exit**, with further signals deferred while it runs, confirmed by
   read-back and logged (``labctl: station safe: ...`` on stderr when a signal ended the run:
   the GUI's Stop waits for that line).
4. **A guard that outlives the process** on a station reached over the network (a station file):
   :mod:`labctl.services.guard` makes it safe if this process dies without doing so (kill -9,
   a native crash), and a heartbeat keeps the array controller's watchdog fed, which de-routes
   every line if the host goes quiet. The embedded simulator (``--sim``) dies with the process,
   so it gets neither.
"""

from __future__ import annotations

import _thread
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from labctl.core.errors import LabctlError
from labctl.services.guard import GuardProcess
from labctl.services.station_lock import StationLock
from labctl.services.station_source import StationSource
from labctl.station.config import StationConfig
from labctl.station.deferred import STOP_SIGNALS, deferred_signals
from labctl.station.safe_state import SafeStateReport
from labctl.station.station import Station

log = logging.getLogger("labctl.station")

#: What a session writes on stderr once the safe state is confirmed after a stop signal.
SAFE_MARK = "labctl: station safe:"
#: Array-controller watchdog timeout (s): the lines are de-routed this long after the host's
#: last message; the heartbeat feeds it every :data:`HEARTBEAT_s`.
WATCHDOG_s = 5.0
HEARTBEAT_s = 1.0


class SessionStopped(KeyboardInterrupt):
    """A stop signal ended the session (the station was made safe on the way out)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


@contextlib.contextmanager
def station_session(
    source: StationSource,
    purpose: str,
    *,
    attempts: int = 1,
    on_signal: Callable[[int], None] | None = None,
    read_only: bool = False,
) -> Iterator[Station]:
    """The station of ``source`` (the simulator started for a simulated one), owned, connected
    and guarded for the block; safe and released afterwards whatever happened.

    ``read_only``: the block only queries (``station check``, the GUI's status poll): the lock
    and the signal handlers still apply, but nothing is switched on the way out, and there is no
    guard or watchdog."""
    with source.open() as config, config_session(
        config, purpose, attempts=attempts, on_signal=on_signal, external=not source.simulated,
        read_only=read_only,
    ) as station:
        yield station


@contextlib.contextmanager
def config_session(
    config: StationConfig,
    purpose: str,
    *,
    attempts: int = 1,
    on_signal: Callable[[int], None] | None = None,
    external: bool = True,
    read_only: bool = False,
) -> Iterator[Station]:
    """:func:`station_session` for a station config already opened; ``external``: reached over
    the network (guard and watchdog) rather than served by this process."""
    stops = _StopSignals(on_signal)
    lock = StationLock(config, purpose).acquire()  # StationBusy: nothing sent
    if read_only:
        try:
            with stops.installed():
                reading = Station.connect(config, attempts=attempts)
                try:
                    yield reading
                finally:
                    reading.close()
        finally:
            lock.release()
        return
    guard: GuardProcess | None = None
    station: Station | None = None
    heartbeat: _Heartbeat | None = None
    try:
        with stops.installed():
            guard = GuardProcess(config, purpose) if external else None
            station = Station.connect(config, attempts=attempts)
            heartbeat = _Heartbeat(station if external else None, lock)
            try:
                yield station
            except BaseException:
                _end_surely(station, heartbeat, guard, stops, failing=True)
                raise
            else:
                _end_surely(station, heartbeat, guard, stops, failing=False)
                if stops.received and stops.on_signal is None:
                    raise SessionStopped(stops.received[0])  # the run ended, but stopped
            finally:
                guard = None
    finally:
        if guard is not None:  # never connected: nothing was switched on
            guard.finish(station_safe=True)
        lock.release()


def _end_surely(station: Station, heartbeat: _Heartbeat, guard: GuardProcess | None,
                stops: _StopSignals, failing: bool) -> None:
    """:func:`_end`, again if a signal landed before its deferred section began."""
    for _ in range(3):
        try:
            _end(station, heartbeat, guard, stops, failing)
            return
        except SessionStopped:
            continue


def _end(station: Station, heartbeat: _Heartbeat, guard: GuardProcess | None,
         stops: _StopSignals, failing: bool) -> None:
    """The way out: heartbeat stopped, safe state confirmed, connections closed, guard told;
    stop signals arriving meanwhile are recorded, not acted on. A safe state that cannot be
    confirmed raises, unless an exception is already on its way (then it is logged)."""
    stops.ending = True
    report: SafeStateReport | None = None
    with deferred_signals():
        heartbeat.stop()
        try:
            report = station.safe_state()
        except LabctlError as exc:
            log.error("station NOT confirmed safe: %s", exc)
            if not failing:
                raise
        finally:
            if report is not None and heartbeat.controller is not None:
                with contextlib.suppress(LabctlError):
                    heartbeat.controller.arm_watchdog(0.0)
            station.close()
            if guard is not None:
                guard.finish(station_safe=report is not None)
    if report is not None:
        log.info("station safe, confirmed by read-back: %s", report.describe())
        if stops.received:
            print(f"{SAFE_MARK} {report.describe()}", file=sys.stderr, flush=True)


class _StopSignals:
    """The session's handlers of :data:`STOP_SIGNALS` (main thread only)."""

    def __init__(self, on_signal: Callable[[int], None] | None) -> None:
        self.on_signal = on_signal
        self.received: list[int] = []
        #: The session is on its way out: signals are only recorded.
        self.ending = False
        self._raised = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous: dict[signal.Signals, Any] = {}
        try:
            for sig in STOP_SIGNALS:
                previous[sig] = signal.signal(sig, self.handle)
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        first = not self.received
        self.received.append(signum)
        if first and self.on_signal is not None:
            log.warning("%s: stopping after the current step (again to interrupt at once)", name)
            self.on_signal(signum)
            return
        if self._raised or self.ending:
            log.warning("%s: the station is being made safe", name)
            return
        self._raised = True
        log.warning("%s: stopping now; the station is being made safe", name)
        raise SessionStopped(signum)


class _Heartbeat:
    """Every :data:`HEARTBEAT_s`: check the station lock is still in place (restore it if it
    was removed; stop the run if it cannot be) and, on an external station, feed the array
    controller's watchdog (``WDOG``, which also re-arms it after a controller restart)."""

    def __init__(self, station: Station | None, lock: StationLock) -> None:
        self.controller = station.controller if station is not None else None
        self._lock = lock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="station-heartbeat", daemon=True)
        if self.controller is not None:
            self.controller.arm_watchdog(WATCHDOG_s)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_s):
            try:
                if not self._lock.verify():
                    log.error("the station lock was removed and cannot be restored: stopping")
                    _thread.interrupt_main(signal.SIGTERM)
                    return
                if self.controller is not None:
                    self.controller.arm_watchdog(WATCHDOG_s)
            except (LabctlError, OSError) as exc:  # the measuring thread will notice too
                log.debug("heartbeat: %s", exc)

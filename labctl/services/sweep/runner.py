"""Run a PyMeasure procedure in the calling thread, with a console's stop handling.

PyMeasure's ``Worker`` runs a procedure in a thread and records its ``results`` into a CSV
``Results`` file; a console sweep writes HDF5 instead, so this runner does the same life cycle
(startup, execute, shutdown always, status, progress) with plain listeners. SIGINT, SIGTERM,
SIGHUP and SIGQUIT request a stop that the procedure honours between rows and dies; a second
signal interrupts at once. Either way the procedure's ``shutdown`` (safe state) runs. The sweep
service gets the same behaviour from its station session (``on_signal``);
:func:`stop_on_signals` is that behaviour for a runner used on its own.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from pymeasure.experiment import Procedure

from labctl.station.deferred import STOP_SIGNALS

log = logging.getLogger(__name__)

Listener = Callable[[str, Any], None]


class ProcedureRunner:
    """Drives one procedure: wires ``emit``/``should_stop``, runs it, always shuts it down."""

    def __init__(self, procedure: Procedure, listeners: list[Listener] | None = None) -> None:
        self.procedure = procedure
        self.listeners: list[Listener] = list(listeners or [])
        self._stop = threading.Event()

    def emit(self, topic: str, record: Any) -> None:
        """Hand a record to every listener (the procedure's ``emit``)."""
        for listener in self.listeners:
            listener(topic, record)

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Ask the procedure to stop at its next check (between rows or dies)."""
        self._stop.set()

    def run(self) -> int:
        """Run startup, execute and shutdown; return the final PyMeasure status.

        Exceptions from the procedure propagate after ``shutdown`` ran and the status was set
        to ``FAILED`` (or ``ABORTED`` for KeyboardInterrupt / SystemExit).
        """
        procedure = self.procedure
        procedure.emit = self.emit
        procedure.should_stop = self.should_stop
        procedure.is_last = lambda: True
        self._set_status(Procedure.RUNNING)
        self.emit("progress", 0.0)
        try:
            procedure.startup()
            if not self.should_stop():
                procedure.evaluate_metadata()
                procedure.execute()
        except (KeyboardInterrupt, SystemExit):
            self._set_status(Procedure.ABORTED)
            raise
        except Exception:
            self._set_status(Procedure.FAILED)
            raise
        finally:
            procedure.shutdown()
            if procedure.status == Procedure.RUNNING:
                if self.should_stop():
                    self._set_status(Procedure.ABORTED)
                else:
                    self._set_status(Procedure.FINISHED)
                    self.emit("progress", 100.0)
        return int(procedure.status)

    def _set_status(self, status: int) -> None:
        self.procedure.status = status
        self.emit("status", status)


@contextmanager
def stop_on_signals(runner: ProcedureRunner) -> Iterator[None]:
    """A stop signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT): the first requests a clean stop, a
    second one raises KeyboardInterrupt.

    Only installs handlers from the main thread (Python's rule); restores the previous ones.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if runner.should_stop():
            log.warning("%s again: interrupting now", name)
            raise KeyboardInterrupt
        log.warning("%s: stopping after the current step (again to interrupt at once)", name)
        runner.request_stop()

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

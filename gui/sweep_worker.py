"""Runs a planned sweep of the sweep service in a worker thread.

The service connects the station (the instruments panel has released its connection before),
runs the procedure, writes the log file and brings the station to its safe state on every way
out; pause-between-dies and abort are the service's :class:`SweepControl`. This thread only turns
the procedure's records into queued Qt signals for the GUI thread.
"""

from __future__ import annotations

import logging
from typing import Any

from PyQt6.QtCore import QThread, pyqtSignal

from labctl.core.errors import LabctlError
from labctl.services.sweep.plan import SweepPlan
from labctl.services.sweep.service import SweepControl, SweepOutcome, SweepService
from procedures.events import DIE_TOPIC

log = logging.getLogger("gui.sweep")


class SweepWorker(QThread):
    """One sweep run; emits progress, die events, and ``finished_with(outcome, detail)``."""

    progress = pyqtSignal(float)
    die_event = pyqtSignal(dict)
    finished_with = pyqtSignal(str, str)

    def __init__(self, service: SweepService, plan: SweepPlan) -> None:
        super().__init__()
        self.setObjectName("sweep-worker")
        self.service = service
        self.plan = plan
        self.control = SweepControl()

    def request_abort(self) -> None:
        """Stop at the next row/tile boundary; the station goes to its safe state."""
        self.control.request_abort()

    def request_pause(self) -> None:
        """Stop after the die being measured (resume later continues the file)."""
        self.control.request_pause()

    def run(self) -> None:
        detail = ""
        try:
            outcome = self.service.run(self.plan, control=self.control,
                                       listeners=[self._record]).outcome
        except Exception as exc:  # reported to the operator; the station is already safe
            log.error("sweep failed: %s", exc, exc_info=not isinstance(exc, LabctlError))
            outcome = (SweepOutcome.ABORTED if self.control.abort_requested
                       else SweepOutcome.FAILED)
            detail = str(exc) or type(exc).__name__
        self.finished_with.emit(outcome.value, detail)

    def _record(self, topic: str, record: Any) -> None:
        """Listener called in this thread by the procedure's ``emit``."""
        if topic == "progress":
            self.progress.emit(float(record))
        elif topic == DIE_TOPIC:
            self.die_event.emit(dict(record))
        elif topic == "log":
            log.info("%s", record)

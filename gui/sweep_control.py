"""Sweep control: the GUI's thin adapter over the sweep service.

It takes what the run-control panel collected, has the service plan it (every input problem is
a dialog before anything moves), frees the instruments from the instruments panel, runs the plan
in a :class:`SweepWorker`, forwards pause and abort, and reports how the run ended. The main
window only shows files and follows the dies this controller announces.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QWidget

from gui.dialogs import show_error, show_exception
from gui.instruments_panel import InstrumentsPanel
from gui.run_control import RunControlPanel, RunState
from gui.style import format_percent
from gui.sweep_worker import SweepWorker
from labctl.core.errors import LabctlError
from labctl.services.sweep.plan import SweepPlan, SweepRequest
from labctl.services.sweep.service import SweepOutcome, SweepService

log = logging.getLogger("gui")

#: What the run-control panel says when a sweep ends (FAILED adds the reason).
OUTCOME_TEXTS = {
    SweepOutcome.FINISHED: "Sweep finished",
    SweepOutcome.PAUSED: "Paused between dies; press Resume file to continue",
    SweepOutcome.ABORTED: "Aborted; station in safe state. Resume file redoes the rest",
    SweepOutcome.FAILED: "Sweep failed",
}


class SweepController(QObject):
    """Start / pause / abort / resume of sweeps on the window's station (none: review only)."""

    #: The plan of a sweep whose worker has just started.
    launched = pyqtSignal(object)
    #: A die event of the running sweep (dict, as the procedure emitted it).
    die_event = pyqtSignal(dict)
    #: The run ended: outcome and the text shown for it.
    finished = pyqtSignal(str, str)

    def __init__(self, service: SweepService | None, run_control: RunControlPanel,
                 instruments: InstrumentsPanel, dialog_parent: QWidget) -> None:
        super().__init__(dialog_parent)
        self.service = service
        self.run_control = run_control
        self.instruments = instruments
        self.dialog_parent = dialog_parent
        self.worker: SweepWorker | None = None
        self._pending: SweepPlan | None = None
        instruments.released.connect(self._launch)
        run_control.start_requested.connect(self.start)
        run_control.pause_requested.connect(self.pause)
        run_control.abort_requested.connect(self.abort)

    def active(self) -> bool:
        return self.worker is not None or self._pending is not None

    def start(self, request: SweepRequest) -> bool:
        """Plan the request and, if it is sound, free the instruments and launch the worker."""
        if self.service is None or self.active():
            return False
        try:
            plan = self.service.plan(request)
        except LabctlError as exc:
            show_exception(self.dialog_parent, exc, "cannot start the sweep")
            return False
        if plan.resume and not plan.to_measure:
            show_error(self.dialog_parent, "Nothing to resume",
                       f"every die of {plan.output} is already complete")
            return False
        self._pending = plan
        self.run_control.set_state(RunState.STARTING, "Starting: releasing the instruments …")
        self.instruments.release()
        return True

    def resume(self, path: Path, values: dict[str, Any]) -> bool:
        """Continue ``path`` with the settings it was measured with (``values`` only change
        the run settings: retries, checkpoints, ...)."""
        if self.service is None:
            return False
        return self.start(self.service.resume_request(path, values))

    def pause(self) -> None:
        if self.worker is not None:
            self.worker.request_pause()
            self.run_control.set_state(RunState.PAUSING, "Pausing after the die being measured …")
            log.info("pause requested: the sweep stops after the current die")

    def abort(self) -> None:
        if self.worker is not None:
            self.worker.request_abort()
            self.run_control.set_state(RunState.ABORTING, "Aborting: station to safe state …")
            log.warning("abort requested")

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Abort a running sweep (station to safe state) and wait for its thread."""
        if self.worker is not None:
            log.warning("window closing: aborting the sweep")
            self.worker.request_abort()
            self.worker.wait(timeout_ms)

    # ---- internals ------------------------------------------------------------------------------

    def _launch(self) -> None:
        plan, self._pending = self._pending, None
        if plan is None or self.service is None:
            self.instruments.start()
            return
        worker = SweepWorker(self.service, plan)
        worker.progress.connect(self.run_control.set_progress)
        worker.die_event.connect(self._die_event)
        worker.finished_with.connect(self._finished)
        self.worker = worker
        self.run_control.set_progress(0.0)
        verb = "Resuming" if plan.resume else "Sweeping"
        self.run_control.set_state(
            RunState.RUNNING, f"{verb} {len(plan.dies)} dies into {plan.output.name}")
        log.info("%s %d dies into %s", verb.lower(), len(plan.dies), plan.output)
        self.launched.emit(plan)
        worker.start()

    def _die_event(self, event: dict[str, Any]) -> None:
        name, status = str(event.get("die")), str(event.get("status"))
        position = f"{int(event.get('index', 0)) + 1}/{event.get('total', '?')}"
        if status == "started":
            log.info("%s started (%s)", name, position)
        elif status in ("complete", "skipped"):
            yield_text = format_percent(event.get("yield_fraction"), 2)
            log.info("%s %s (%s): yield %s, defects %s", name, status, position, yield_text,
                     event.get("defects"))
        else:
            log.warning("%s %s (%s): %s", name, status, position, event.get("reason"))
        self.die_event.emit(event)

    def _finished(self, outcome: str, detail: str) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.wait(2000)
            worker.deleteLater()
        failed = outcome == SweepOutcome.FAILED
        text = OUTCOME_TEXTS.get(SweepOutcome(outcome), outcome)
        if failed:
            text = f"{text}: {detail}"
        if outcome == SweepOutcome.FINISHED:
            self.run_control.set_progress(100.0)
        self.run_control.set_state(RunState.IDLE, text)
        (log.error if failed else log.info)("%s", text)
        if failed:
            show_error(self.dialog_parent, "Sweep failed",
                       detail or "the sweep stopped with an error")
        self.finished.emit(outcome, text)
        self.instruments.start()

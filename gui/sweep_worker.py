"""Runs the wafer-sweep procedure in a worker thread, with pause-between-dies and abort.

The worker connects its own :class:`Station` (the instruments panel has released its connection
before), hands it to the procedure and runs it with labctl's :class:`ProcedureRunner`, whose
``shutdown`` brings the station to its safe state on every way out. Procedure records reach the
GUI thread as queued Qt signals.

* Abort: the runner's stop request; the procedure stops at the next row (row batching) or tile,
  marks the die failed ("aborted") and puts the station in its safe state.
* Pause: when the die being measured ends, the stop request is made, so the sweep ends between
  dies with every finished die stored; *resume* continues the same file later.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QThread, pyqtSignal

from labctl.core.errors import ConfigError, LabctlError
from labctl.station.config import StationConfig
from labctl.station.station import Station
from labctl.sweep.runner import ProcedureRunner
from procedures.events import DIE_TOPIC
from procedures.wafer_sweep import WaferSweepProcedure

log = logging.getLogger("gui.sweep")

#: Die event statuses after which the sweep may pause.
_DIE_ENDS = ("complete", "failed", "skipped")


@dataclass(frozen=True)
class SweepRequest:
    """What the operator asked for: output file, dies, procedure parameters, resume or not."""

    output_path: Path
    dies: tuple[str, ...]
    parameters: dict[str, Any] = field(default_factory=dict)
    resume: bool = False


class SweepOutcome:
    """How a sweep run ended (the ``finished_with`` signal's first argument)."""

    FINISHED = "finished"
    PAUSED = "paused"
    ABORTED = "aborted"
    FAILED = "failed"


def build_procedure(request: SweepRequest) -> WaferSweepProcedure:
    """A sweep procedure with the request's parameters (ConfigError naming a bad one)."""
    procedure = WaferSweepProcedure()
    objects = procedure.parameter_objects()
    for name, value in request.parameters.items():
        if name not in objects:
            raise ConfigError(f"the sweep procedure has no parameter {name!r}")
        try:
            procedure.set_parameters({name: value})
        except ValueError as exc:
            raise ConfigError(f"{objects[name].name} = {value!r}: {exc}") from exc
    procedure.dies = ",".join(request.dies)
    procedure.output_file = str(request.output_path)
    procedure.resume = request.resume
    procedure.station_file = ""
    procedure.refresh_parameters()
    procedure.settings()  # validates ranges (ConfigError)
    return procedure


class SweepWorker(QThread):
    """One sweep run; emits progress, die events, and ``finished_with(outcome, detail)``."""

    progress = pyqtSignal(float)
    die_event = pyqtSignal(dict)
    finished_with = pyqtSignal(str, str)

    def __init__(self, config: StationConfig, request: SweepRequest) -> None:
        super().__init__()
        self.setObjectName("sweep-worker")
        self.config = config
        self.request = request
        self.procedure = build_procedure(request)
        self.runner = ProcedureRunner(self.procedure, [self._record])
        self._pause = threading.Event()
        self._abort = threading.Event()

    def request_abort(self) -> None:
        """Stop at the next row/tile boundary; the station goes to its safe state."""
        self._abort.set()
        self.runner.request_stop()

    def request_pause(self) -> None:
        """Stop after the die being measured (resume later continues the file)."""
        self._pause.set()

    def pause_requested(self) -> bool:
        return self._pause.is_set()

    def run(self) -> None:
        outcome, detail = SweepOutcome.FAILED, ""
        station: Station | None = None
        try:
            station = Station.connect(self.config)
            self.procedure.station = station
            self.runner.run()
            if self._abort.is_set():
                outcome = SweepOutcome.ABORTED
            elif self._pause.is_set() and self.runner.should_stop():
                outcome = SweepOutcome.PAUSED
            else:
                outcome = SweepOutcome.FINISHED
        except Exception as exc:  # reported to the operator; the procedure already shut down
            log.error("sweep failed: %s", exc, exc_info=not isinstance(exc, LabctlError))
            outcome, detail = SweepOutcome.FAILED, str(exc) or type(exc).__name__
            if self._abort.is_set():
                outcome = SweepOutcome.ABORTED
        finally:
            if station is not None:
                station.close()
        self.finished_with.emit(outcome, detail)

    def _record(self, topic: str, record: Any) -> None:
        """Listener called in this thread by the procedure's ``emit``."""
        if topic == "progress":
            self.progress.emit(float(record))
        elif topic == DIE_TOPIC:
            self.die_event.emit(dict(record))
            if record.get("status") in _DIE_ENDS and self._pause.is_set():
                self.runner.request_stop()
        elif topic == "log":
            log.info("%s", record)

"""The sweep service: plan, run, pause between dies, abort and resume a wafer sweep, in one place.

The CLI, the GUI's worker and `reproduce` all go through :class:`SweepService`. The procedure
does the measuring; the service connects it to the world: it opens the station (starting the
simulated one for a simulator source: the procedure never knows), attaches the log file beside
the data, the summary and any caller's listeners, turns a :class:`SweepControl`'s pause and abort
requests (and, for a console, SIGINT/SIGTERM) into the procedure's stop, and makes sure the
station ends in its safe state whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, TextIO

from pymeasure.experiment import Procedure

from labctl.core.errors import ConfigError, LabctlError
from labctl.services.station_session import config_session, station_session
from labctl.services.station_source import StationSource
from labctl.services.sweep.logfile import SweepLogFile
from labctl.services.sweep.plan import SweepPlan, SweepRequest, make_plan, plan_text
from labctl.services.sweep.progress import SweepProgress
from labctl.services.sweep.runner import Listener, ProcedureRunner
from labctl.services.sweep.spec import SweepSpec, sweep_spec
from labctl.services.sweep.summary import SweepSummary
from labctl.station.config import StationConfig
from labctl.station.station import Station
from labctl.store.publish import publish
from labctl.store.wafer_file import reserved_writer
from procedures.events import DIE_TOPIC
from procedures.wafer_sweep import WaferSweepProcedure

log = logging.getLogger("labctl.sweep")

#: Attempts to open and identify each instrument at the start of a sweep.
CONNECT_ATTEMPTS = 3
#: Root attribute of a simulated wafer's file: the simulator parameters (JSON, every field).
SIM_PARAMS_ATTR = "sim_params"
#: Die event statuses after which a sweep may pause.
_DIE_ENDS = ("complete", "failed", "skipped")
_DONE = ("complete", "skipped")


class SweepOutcome(str, Enum):
    """How a sweep run ended."""

    FINISHED = "finished"
    PAUSED = "paused"
    ABORTED = "aborted"
    FAILED = "failed"


@dataclass(frozen=True)
class SweepResult:
    status: int  # PyMeasure's final procedure status
    outcome: SweepOutcome
    summary: SweepSummary

    @property
    def finished(self) -> bool:
        return self.outcome is SweepOutcome.FINISHED


class SweepControl:
    """An operator's requests to a running sweep, from any thread.

    Pause: the sweep stops when the die being measured ends (every finished die stored; resume
    continues the file). Abort: the procedure stops at its next row or tile, marks the die in
    progress failed ("aborted"), and the station goes to its safe state.
    """

    def __init__(self) -> None:
        self._pause = threading.Event()
        self._abort = threading.Event()
        self._runner: ProcedureRunner | None = None

    def request_pause(self) -> None:
        self._pause.set()

    def request_abort(self) -> None:
        self._abort.set()
        runner = self._runner
        if runner is not None:
            runner.request_stop()

    @property
    def pause_requested(self) -> bool:
        return self._pause.is_set()

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set()

    def attach(self, runner: ProcedureRunner) -> None:
        """Drive ``runner`` (an abort asked for before the run began still applies)."""
        self._runner = runner
        if self._abort.is_set():
            runner.request_stop()

    def handle(self, topic: str, record: Any) -> None:
        """Listener: a requested pause takes effect when a die ends."""
        runner = self._runner
        if (runner is not None and topic == DIE_TOPIC and self._pause.is_set()
                and record.get("status") in _DIE_ENDS):
            runner.request_stop()


def build_procedure(plan: SweepPlan) -> WaferSweepProcedure:
    """The plan's sweep procedure, every setting at its resolved value."""
    return plan.spec.procedure_class(
        **plan.values,
        output_file=str(plan.output),
        resume=plan.resume,
        dies=",".join(plan.dies),
    )


class SweepService:
    """Sweeps on the station of ``source``.

    ``station_config``, when given, is the config of a station already opened from the source
    (the GUI keeps one for its whole session): runs connect to it instead of opening the source
    again. Without a source, that station names itself and the wafer is named after its file.
    """

    def __init__(
        self,
        source: StationSource | None = None,
        *,
        station_config: StationConfig | None = None,
        spec: SweepSpec | None = None,
    ) -> None:
        if source is None and station_config is None:
            raise ConfigError("a sweep needs a station source or an open station")
        self.source = source
        self.station_config = station_config
        self.spec = spec or sweep_spec()

    @property
    def label(self) -> str:
        if self.source is not None:
            return self.source.label
        assert self.station_config is not None
        return self.station_config.name

    def default_wafer_id(self, output: Path) -> str:
        if self.source is not None:
            return self.source.default_wafer_id(output)
        return Path(output).stem

    # ---- planning -------------------------------------------------------------------------------

    def plan(self, request: SweepRequest) -> SweepPlan:
        """Everything checked, nothing touched (LabctlError naming what is wrong)."""
        static = self.station_config
        if static is None:
            assert self.source is not None
            static = self.source.static_config()
        simulated = self.source is not None and self.source.simulated
        return make_plan(
            request,
            station_label=self.label,
            station_config=static,
            default_wafer_id=self.default_wafer_id(Path(request.output)),
            keep_stored_wafer_id=not simulated,
            spec=self.spec,
        )

    def resume_request(
        self, output: Path, values: dict[str, Any] | None = None,
        dies: str | Sequence[str] | None = None,
    ) -> SweepRequest:
        """A request to finish ``output`` with its own settings; only the run settings of
        ``values`` (retries, checkpoints, ...) apply, the measured ones come from the file."""
        return SweepRequest(output, dies, self.spec.run_values(values or {}), resume=True)

    def measure(
        self,
        output: Path,
        dies: str | Sequence[str] | None = None,
        *,
        progress_stream: TextIO | None = None,
        announce: Callable[[str], None] | None = None,
    ) -> SweepPlan:
        """Make sure ``dies`` of ``output`` are measured: into a new file, or by finishing the
        file there (nothing is run when every die is complete). LabctlError when the sweep
        stops before its end; ``announce`` hears what is being done."""
        tell = announce or log.info
        plan = self.plan(SweepRequest(output, dies, resume=Path(output).exists()))
        if plan.resume and not plan.to_measure:
            tell(f"reusing {output} (every selected die measured)")
            return plan
        tell(f"sweeping {len(plan.dies)} dies into {output}")
        if not self.run(plan, progress_stream=progress_stream).finished:
            raise LabctlError(f"the sweep of {output} stopped before its end")
        return plan

    # ---- running --------------------------------------------------------------------------------

    def run(
        self,
        plan: SweepPlan,
        *,
        control: SweepControl | None = None,
        listeners: Sequence[Listener] = (),
        progress_stream: TextIO | None = None,
        handle_signals: bool = False,
    ) -> SweepResult:
        """Run the plan; returns how it ended and its summary (also written to the log file).

        ``progress_stream`` gets a console progress display; ``handle_signals`` turns the first
        SIGINT / SIGTERM / SIGHUP / SIGQUIT into a clean stop after the current row (a console
        run; a second one interrupts at once); without it the first one interrupts. The station
        is owned, guarded and made safe by a station session
        (:mod:`labctl.services.station_session`). Exceptions (a station that cannot be reached,
        a full disk) propagate after the station was brought to its safe state and the log file
        recorded them.
        """
        control = control or SweepControl()
        summary = SweepSummary()
        with SweepLogFile(plan.log_path) as log_file:
            log.info("labctl sweep: %s", "resume" if plan.resume else "new wafer file")
            for line in plan_text(plan).splitlines():
                log.info("plan: %s", line)
            shown: list[Listener] = []
            progress: SweepProgress | None = None
            if progress_stream is not None:
                progress = SweepProgress(progress_stream, total_dies=len(plan.dies),
                                         cells_per_die=plan.estimate().cells_per_die)
                shown.append(progress.handle)
            procedure = build_procedure(plan)
            runner = ProcedureRunner(
                procedure,
                [*shown, summary.handle, log_file.handle, *listeners, control.handle],
            )
            control.attach(runner)
            status = Procedure.FAILED
            try:
                on_signal = (lambda signum: runner.request_stop()) if handle_signals else None
                with reserved_writer(plan.output), self._session(on_signal) as station:
                    procedure.station = station
                    status = runner.run()
                    self._record_sim_params(Path(plan.output))
            except BaseException as exc:
                # A LabctlError reaches the operator as the command's one error line: the log
                # file records it, the console does not repeat it.
                level = logging.INFO if isinstance(exc, LabctlError) else logging.ERROR
                log.log(level, "sweep ended by %s: %s", type(exc).__name__, exc)
                raise
            finally:
                if progress is not None:
                    progress.close()
                for line in summary.text().splitlines():
                    log.info("summary: %s", line)
                log.info("sweep %s", Procedure.STATUS_STRINGS.get(status, str(status)).lower())
        outcome = _outcome(plan, status, control, runner, summary)
        return SweepResult(status, outcome, summary)

    def _record_sim_params(self, path: Path) -> None:
        """Store in the wafer file every simulator parameter its wafer was built from (root
        attribute ``sim_params``, JSON), so a file says which device assumption it measured.
        Nothing for a real station, or when the run created no file."""
        record = self.source.sim_params_record() if self.source is not None else None
        if record is None or not path.is_file():
            return
        text = json.dumps(record, sort_keys=True)
        publish(path, path, lambda h5: h5.attrs.__setitem__(SIM_PARAMS_ATTR, text))

    def _session(
        self, on_signal: Callable[[int], None] | None
    ) -> contextlib.AbstractContextManager[Station]:
        """The station, owned and guarded for the run (see :func:`station_session`)."""
        if self.station_config is not None:
            external = self.source is None or not self.source.simulated
            return config_session(self.station_config, "sweep", attempts=CONNECT_ATTEMPTS,
                                  on_signal=on_signal, external=external)
        assert self.source is not None
        faults = self.source.faults
        if faults is not None and not faults.empty:
            log.info("simulated station injects faults: %s", faults.to_text())
        return station_session(self.source, "sweep", attempts=CONNECT_ATTEMPTS,
                               on_signal=on_signal)


def _outcome(plan: SweepPlan, status: int, control: SweepControl, runner: ProcedureRunner,
             summary: SweepSummary) -> SweepOutcome:
    if control.abort_requested:
        return SweepOutcome.ABORTED
    if control.pause_requested and runner.should_stop():
        ended = {name: event["status"] for name, event in summary.dies.items()}
        if all(ended.get(name) in _DONE for name in plan.dies):
            return SweepOutcome.FINISHED  # paused after the last die: nothing left to do
        return SweepOutcome.PAUSED
    if status == Procedure.FINISHED:
        return SweepOutcome.FINISHED
    return SweepOutcome.ABORTED

"""Run a planned sweep from the console: simulator or station, log file, progress, summary.

The procedure does the measuring; this module connects it to the world: it starts the embedded
simulator for ``--sim`` (the procedure never knows), connects the station, attaches the log
file, the progress display and the summary, turns SIGINT/SIGTERM into a clean stop, and makes
sure the station ends in its safe state whatever happens.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from pymeasure.experiment import Procedure

from labctl.station.config import StationConfig
from labctl.station.station import Station
from labctl.sweep.logfile import SweepLogFile
from labctl.sweep.plan import SweepPlan, plan_text
from labctl.sweep.progress import SweepProgress
from labctl.sweep.runner import ProcedureRunner, stop_on_signals
from labctl.sweep.summary import SweepSummary
from procedures.wafer_sweep import WaferSweepProcedure

if TYPE_CHECKING:
    from labctl.sim.faults import FaultSpec

log = logging.getLogger("labctl.sweep")

#: Attempts to open and identify each instrument at the start of a sweep.
CONNECT_ATTEMPTS = 3


@dataclass(frozen=True)
class SweepOptions:
    """Procedure knobs that are not characterisation settings."""

    retry_attempts: int = 3
    retry_backoff_s: float = 0.5
    max_gate_leakage_A: float = 1e-6
    checkpoint_interval_s: float = 30.0
    max_consecutive_failures: int = 3


@dataclass(frozen=True)
class SweepResult:
    status: int
    summary: SweepSummary

    @property
    def finished(self) -> bool:
        return self.status == Procedure.FINISHED


@contextlib.contextmanager
def station_config_for(
    plan: SweepPlan, sim_seed: int | None, faults: FaultSpec | None = None
) -> Iterator[StationConfig]:
    """The plan's station config; for a simulated run, with a simulator started for it (with
    ``faults`` injected)."""
    if sim_seed is None:
        yield plan.station_config
        return
    from labctl.services.station_source import (
        simulated_station_config,  # only --sim needs the simulator
    )

    with simulated_station_config(sim_seed, faults) as config:
        if faults is not None and not faults.empty:
            log.info("simulated station injects faults: %s", faults.to_text())
        yield config


def build_procedure(plan: SweepPlan, options: SweepOptions) -> WaferSweepProcedure:
    s = plan.settings
    return WaferSweepProcedure(
        cycles=s.cycles,
        read_voltage=s.read_voltage_V,
        write_voltage=s.write_voltage_V,
        write_width=s.write_width_s,
        nplc=s.nplc,
        batching=s.batching,
        retry_attempts=options.retry_attempts,
        retry_backoff=options.retry_backoff_s,
        max_gate_leakage=options.max_gate_leakage_A,
        checkpoint_interval=options.checkpoint_interval_s,
        max_consecutive_failures=options.max_consecutive_failures,
        output_file=str(plan.output),
        wafer_id=plan.wafer_id,
        resume=plan.resume,
        dies=",".join(plan.dies),
    )


def run_sweep(
    plan: SweepPlan,
    options: SweepOptions,
    sim_seed: int | None = None,
    progress_stream: TextIO | None = None,
    faults: FaultSpec | None = None,
) -> SweepResult:
    """Run the plan; returns the final status and summary (also written to the log file).

    Exceptions (a station that cannot be reached, a full disk) propagate after the station
    was brought to its safe state and the log file recorded them.
    """
    stream = progress_stream if progress_stream is not None else sys.stderr
    summary = SweepSummary()
    cells_per_die = plan.estimate().cells_per_die
    with SweepLogFile(plan.log_path) as log_file:
        log.info("labctl sweep: %s", "resume" if plan.resume else "new wafer file")
        for line in plan_text(plan).splitlines():
            log.info("plan: %s", line)
        progress = SweepProgress(stream, total_dies=len(plan.dies), cells_per_die=cells_per_die)
        procedure = build_procedure(plan, options)
        runner = ProcedureRunner(procedure, [progress.handle, summary.handle, log_file.handle])
        status = Procedure.FAILED
        try:
            with station_config_for(plan, sim_seed, faults) as config, \
                    Station.connect(config, attempts=CONNECT_ATTEMPTS) as station:
                procedure.station = station
                with stop_on_signals(runner):
                    status = runner.run()
        except BaseException as exc:
            log.error("sweep ended by %s: %s", type(exc).__name__, exc)
            raise
        finally:
            progress.close()
            for line in summary.text().splitlines():
                log.info("summary: %s", line)
            log.info("sweep %s", Procedure.STATUS_STRINGS.get(status, str(status)).lower())
    return SweepResult(status, summary)

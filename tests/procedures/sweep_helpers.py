"""Helpers of the procedure tests: run a wafer sweep procedure in this thread on a station.

A plain module (not conftest.py) so that test modules can import it by a unique name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from labctl.services.sweep.runner import ProcedureRunner
from labctl.sim.embedded import SimStationServer
from labctl.station.station import Station
from procedures.wafer_sweep import WaferSweepProcedure

SimFactory = Callable[[int], tuple[SimStationServer, Station]]


class SweepRun:
    """A finished in-process sweep: its status, emitted records and procedure."""

    def __init__(self, procedure: WaferSweepProcedure, runner: ProcedureRunner) -> None:
        self.procedure = procedure
        self.runner = runner
        self.records: list[tuple[str, Any]] = []
        self.status: int | None = None
        self.error: BaseException | None = None

    def topic(self, name: str) -> list[Any]:
        return [record for topic, record in self.records if topic == name]

    def die_events(self, status: str) -> list[dict[str, Any]]:
        return [event for event in self.topic("die") if event["status"] == status]


def run_sweep(
    station: Station,
    out: Path,
    dies: str,
    listener: Callable[[SweepRun, str, Any], None] | None = None,
    **parameters: Any,
) -> SweepRun:
    """Run WaferSweepProcedure in this thread on `station`; exceptions are kept, not raised."""
    parameters.setdefault("retry_backoff", 0.0)
    procedure = WaferSweepProcedure(dies=dies, output_file=str(out), wafer_id="test-wafer",
                                    **parameters)
    procedure.station = station
    runner = ProcedureRunner(procedure)
    run = SweepRun(procedure, runner)

    def record(topic: str, payload: Any) -> None:
        run.records.append((topic, payload))
        if listener is not None:
            listener(run, topic, payload)

    runner.listeners.append(record)
    try:
        run.status = runner.run()
    except Exception as exc:
        run.error = exc
        run.status = procedure.status
    return run

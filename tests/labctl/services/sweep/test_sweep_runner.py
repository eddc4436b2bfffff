"""Procedure runner: life cycle like PyMeasure's Worker, shutdown on every exit path, signals."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from pymeasure.experiment import IntegerParameter, Procedure

from labctl.services.sweep.runner import ProcedureRunner, stop_on_signals


class CountingProcedure(Procedure):
    """Counts steps, stopping when asked; can fail or interrupt at a given step."""

    steps = IntegerParameter("Steps", default=5)

    def __init__(self, fail_at: int | None = None, interrupt_at: int | None = None,
                 signal_at: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_at = fail_at
        self.interrupt_at = interrupt_at
        self.signal_at = signal_at
        self.done = 0
        self.shut_down = 0

    def execute(self) -> None:
        for step in range(self.steps):
            if self.should_stop():
                return
            if step == self.fail_at:
                raise RuntimeError("boom")
            if step == self.interrupt_at:
                raise KeyboardInterrupt
            if step == self.signal_at:
                os.kill(os.getpid(), signal.SIGTERM)
            self.done += 1
            self.emit("progress", 100.0 * self.done / self.steps)

    def shutdown(self) -> None:
        self.shut_down += 1


def run(procedure: CountingProcedure) -> tuple[int, list[tuple[str, Any]]]:
    records: list[tuple[str, Any]] = []
    runner = ProcedureRunner(procedure, [lambda t, r: records.append((t, r))])
    with stop_on_signals(runner):
        status = runner.run()
    return status, records


def test_normal_run_finishes_with_progress_and_one_shutdown() -> None:
    procedure = CountingProcedure()
    status, records = run(procedure)
    assert status == Procedure.FINISHED
    assert procedure.done == 5 and procedure.shut_down == 1
    assert records[0] == ("status", Procedure.RUNNING)
    assert ("progress", 100.0) in records
    assert records[-2:] == [("status", Procedure.FINISHED), ("progress", 100.0)]


def test_exception_fails_the_run_after_shutdown() -> None:
    procedure = CountingProcedure(fail_at=2)
    with pytest.raises(RuntimeError, match="boom"):
        run(procedure)
    assert procedure.status == Procedure.FAILED
    assert procedure.shut_down == 1


def test_keyboard_interrupt_aborts_after_shutdown() -> None:
    procedure = CountingProcedure(interrupt_at=1)
    with pytest.raises(KeyboardInterrupt):
        run(procedure)
    assert procedure.status == Procedure.ABORTED
    assert procedure.shut_down == 1


def test_sigterm_requests_a_clean_stop_between_steps() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    procedure = CountingProcedure(signal_at=2)
    status, _ = run(procedure)
    assert status == Procedure.ABORTED
    assert procedure.done == 3  # the step in progress finished, then it stopped
    assert procedure.shut_down == 1
    assert signal.getsignal(signal.SIGTERM) == previous

"""Safe state on every way out of a sweep, byte-exact: a stop request (GUI abort), SIGTERM,
SIGINT, a second SIGINT that interrupts at once, and an exception. After the moment it happens,
the instruments receive exactly the safe-state sequence (when the die is given up, and again at
shutdown) and nothing else: no further pulse, contact or output-on."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymeasure.experiment import Procedure

import procedures.measurement
from labctl.services.sweep.runner import ProcedureRunner, stop_on_signals
from labctl.sim.embedded import start_sim_station
from labctl.sim.params import SimParams
from labctl.station.config import sim_station_config
from labctl.station.station import Station
from procedures.wafer_sweep import WaferSweepProcedure
from tests.labctl.station.safe_state_commands import SAFE_STATE

PARAMS = SimParams(gross_short_probability=0.0, tile_shapes=((20, 10), (10, 4)))
MARK = ("test", "<event>")


class Recorded:
    """A sweep on the simulated station with every message to every instrument logged."""

    def __init__(self, station: Station, out: Path) -> None:
        self.log: list[tuple[str, str]] = []
        for role, driver in station.instruments().items():
            write = driver.adapter._write

            def recording(command: str, _write: Callable[..., None] = write,
                          _role: str = role, **kwargs: Any) -> None:
                self.log.append((_role, command))
                _write(command, **kwargs)

            driver.adapter._write = recording
        self.procedure = WaferSweepProcedure(
            dies="die_03_00,die_04_00", output_file=str(out), wafer_id="w", cycles=1,
            batching="row", retry_backoff=0.0,
        )
        self.procedure.station = station
        self.runner = ProcedureRunner(self.procedure)
        self.progress_seen = 0

    def after_mark(self) -> list[tuple[str, str]]:
        return self.log[self.log.index(MARK) + 1 :]

    def on_progress(self, count: int, action: Callable[[], None]) -> None:
        """Mark the log and run ``action`` at the ``count``-th progress event (mid-die)."""

        def listener(topic: str, record: Any) -> None:
            if topic != "progress" or not 0 < float(record) < 100:
                return
            self.progress_seen += 1
            if self.progress_seen == count:
                self.log.append(MARK)
                action()

        self.runner.listeners.append(listener)


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[Recorded]:
    with start_sim_station(seed=3, params=PARAMS) as sim, \
            Station.connect(sim_station_config(sim.resources)) as station:
        yield Recorded(station, tmp_path / "w.h5")
        assert not sim.state.in_contact
        assert not sim.state.smus["read_smu"].output_on
        assert not sim.state.smus["gate_smu"].output_on
        assert not sim.state.controller.routed


def test_a_stop_request_brings_the_safe_state_at_once(recorded: Recorded) -> None:
    recorded.on_progress(5, recorded.runner.request_stop)  # the GUI's Abort button
    assert recorded.runner.run() == Procedure.ABORTED
    assert recorded.after_mark() == SAFE_STATE + SAFE_STATE


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_brings_the_safe_state_at_once(recorded: Recorded, signum: int) -> None:
    recorded.on_progress(5, lambda: os.kill(os.getpid(), signum))
    with stop_on_signals(recorded.runner):
        status = recorded.runner.run()
    assert status == Procedure.ABORTED
    assert recorded.after_mark() == SAFE_STATE + SAFE_STATE


def test_a_second_sigint_interrupts_in_safe_state(recorded: Recorded) -> None:
    def twice() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)

    recorded.on_progress(5, twice)
    with stop_on_signals(recorded.runner), pytest.raises(KeyboardInterrupt):
        recorded.runner.run()
    assert recorded.procedure.status == Procedure.ABORTED
    assert recorded.after_mark() == SAFE_STATE + SAFE_STATE


def test_an_exception_brings_the_safe_state_and_propagates(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_classifier(*args: Any, **kwargs: Any) -> Any:
        recorded.log.append(MARK)
        raise RuntimeError("classifier bug")

    monkeypatch.setattr(procedures.measurement, "classify_tile", broken_classifier)
    with pytest.raises(RuntimeError, match="classifier bug"):
        recorded.runner.run()
    assert recorded.procedure.status == Procedure.FAILED
    assert recorded.after_mark() == SAFE_STATE + SAFE_STATE

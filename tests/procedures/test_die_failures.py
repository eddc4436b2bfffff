"""Failures during a sweep: transient timeouts retried, persistent ones fail the die and the
sweep goes on, open contacts re-contacted once, a broken station stops the sweep."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from pymeasure.experiment import Procedure
from pyvisa.constants import StatusCode
from pyvisa.errors import VisaIOError
from sweep_helpers import SimFactory, run_sweep

from labctl.core.errors import InstrumentError
from labctl.services.sweep.runner import ProcedureRunner
from labctl.sim.embedded import SimStationServer, start_sim_station
from labctl.sim.faults import AcquisitionFaults
from labctl.sim.params import SimParams
from labctl.station.config import sim_station_config
from labctl.station.station import Station
from labctl.store.layout import DieStatus
from labctl.store.reader import open_wafer
from procedures.characterise import CharacteriseDieProcedure
from procedures.die_checks import check_gate_leakage


class ReadTimeouts:
    """Wraps the read SMU connection's ``read``: selected reads time out *without consuming the
    reply*, like a slow instrument whose answer arrives after the timeout. The late reply stays
    in the socket, so a retry that does not flush it (or reconnect) would read stale data. The
    wrapper follows the adapter onto every new connection it opens."""

    def __init__(self, station: Station, sim: SimStationServer, fail: Any) -> None:
        self.adapter = station.read_smu.adapter
        self.sim = sim
        self.fail = fail
        self.calls = 0
        self.timeouts = 0
        self.reopens = 0
        self._install()
        reopen = self.adapter.reopen

        def reopen_and_wrap() -> None:
            reopen()
            self.reopens += 1
            self._install()

        self.adapter.reopen = reopen_and_wrap

    def _install(self) -> None:
        self.connection = self.adapter.connection
        self.original = self.connection.read
        self.connection.read = self

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        self.calls += 1
        if self.fail(self):
            self.timeouts += 1
            raise VisaIOError(StatusCode.error_timeout)
        return self.original(*args, **kwargs)

    def die(self) -> tuple[int, int] | None:
        return self.sim.state.die_position


def test_a_transient_timeout_is_retried_and_the_die_completes(
    sim_station: SimFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim, station = sim_station(2)
    injected = ReadTimeouts(station, sim, fail=lambda r: r.calls == 12)
    out = tmp_path / "wafer.h5"
    with caplog.at_level(logging.WARNING, logger="procedures.retry"):
        run = run_sweep(station, out, "die_04_00")
    assert run.error is None
    assert injected.timeouts == 1
    assert injected.reopens == 1  # the connection with a late reply in it was replaced
    assert any("timed out" in m and "retrying" in m for m in caplog.messages)
    with open_wafer(out) as reader:
        assert reader.dies["die_04_00"].status is DieStatus.COMPLETE
        tile = reader.tile("die_04_00", 0)
    # The stale reply was flushed: no cell got another read's data (a 2 % short/open rate
    # would be a sign of shifted buffers).
    assert tile.defects is not None and (tile.defects != 0).mean() < 0.02


def test_a_die_that_keeps_failing_is_marked_failed_and_the_sweep_continues(
    sim_station: SimFactory, tmp_path: Path
) -> None:
    sim, station = sim_station(2)
    injected = ReadTimeouts(station, sim, fail=lambda r: r.die() == (4, 0))
    out = tmp_path / "wafer.h5"
    run = run_sweep(station, out, "die_03_00,die_04_00,die_05_00", retry_attempts=2)
    assert run.error is None and run.status == Procedure.FINISHED
    assert injected.timeouts >= 2
    with open_wafer(out) as reader:
        statuses = {name: rec.status for name, rec in reader.dies.items()}
        reason = reader.dies["die_04_00"].failure_reason
    assert statuses == {"die_03_00": DieStatus.COMPLETE, "die_04_00": DieStatus.FAILED,
                        "die_05_00": DieStatus.COMPLETE}
    assert "InstrumentError" in reason and "timed out" in reason
    assert [e["reason"] for e in run.die_events("failed")] == [reason]


def test_consecutive_instrument_failures_stop_the_sweep_in_safe_state(
    sim_station: SimFactory, tmp_path: Path
) -> None:
    sim, station = sim_station(2)
    ReadTimeouts(station, sim, fail=lambda r: r.sim.state.in_contact)
    out = tmp_path / "wafer.h5"
    run = run_sweep(station, out, "die_03_00,die_04_00,die_05_00", retry_attempts=2,
                    max_consecutive_failures=2)
    assert isinstance(run.error, InstrumentError)
    assert "2 dies in a row failed" in str(run.error)
    assert run.status == Procedure.FAILED
    assert not sim.state.in_contact
    assert not sim.state.smus["read_smu"].output_on
    with open_wafer(out) as reader:
        statuses = {name: rec.status for name, rec in reader.dies.items()}
    assert statuses == {"die_03_00": DieStatus.FAILED, "die_04_00": DieStatus.FAILED,
                        "die_05_00": DieStatus.PENDING}


class LandsShort:
    """Replaces the chuck's move to contact: the first `misses` times the chuck only reaches
    align height (probes above the pads), as if the contact height were mis-set."""

    def __init__(self, station: Station, misses: int) -> None:
        self.chuck = station.prober.chuck
        self.move_contact = self.chuck.move_contact
        self.misses = misses
        self.calls = 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        if self.calls <= self.misses:
            return self.chuck.move_align()
        return self.move_contact()


def test_an_open_contact_is_retried_once(sim_station: SimFactory, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _sim, station = sim_station(2)
    lands = LandsShort(station, misses=1)
    monkeypatch.setattr(station.prober.chuck, "move_contact", lands)
    out = tmp_path / "wafer.h5"
    run = run_sweep(station, out, "die_04_00")
    assert run.error is None
    assert lands.calls == 2
    with open_wafer(out) as reader:
        assert reader.dies["die_04_00"].status is DieStatus.COMPLETE


def test_a_contact_open_twice_fails_the_die(sim_station: SimFactory, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _sim, station = sim_station(2)
    lands = LandsShort(station, misses=2)
    monkeypatch.setattr(station.prober.chuck, "move_contact", lands)
    out = tmp_path / "wafer.h5"
    run = run_sweep(station, out, "die_04_00,die_05_00")
    assert run.error is None
    with open_wafer(out) as reader:
        assert reader.dies["die_04_00"].status is DieStatus.FAILED
        assert "contact reads open everywhere" in reader.dies["die_04_00"].failure_reason
        assert reader.dies["die_05_00"].status is DieStatus.COMPLETE


def test_characterise_procedure_measures_the_die_under_the_probes(
    sim_station: SimFactory, tmp_path: Path
) -> None:
    sim, station = sim_station(3)
    station.prober.step_to_die(4, 1)
    out = tmp_path / "die.h5"
    procedure = CharacteriseDieProcedure(output_file=str(out), wafer_id="one", cycles=1)
    procedure.station = station
    status = ProcedureRunner(procedure).run()
    assert status == Procedure.FINISHED
    assert procedure.die == "die_04_01"
    assert sim.state.die_position == (4, 1) and not sim.state.in_contact
    with open_wafer(out) as reader:
        assert list(reader.dies) == ["die_04_01"]
        assert reader.dies["die_04_01"].status is DieStatus.COMPLETE


class LoseContactAt:
    """Read-SMU acquisition faults: the probes slide off at reading `reading` of acquisition
    number `acquisition` (1-based), once."""

    def __init__(self, acquisition: int, reading: int) -> None:
        self.acquisition, self.reading, self.count = acquisition, reading, 0

    def on_acquisition(self, n_points: int, in_contact: bool) -> AcquisitionFaults:
        self.count += 1
        if self.count == self.acquisition and in_contact:
            return AcquisitionFaults(contact_lost_at=min(self.reading, n_points - 1))
        return AcquisitionFaults()


def test_a_leakage_measured_after_contact_was_lost_is_measured_again(tmp_path: Path) -> None:
    """Contact lost during the last contact-check row: the leakage check then reads an open
    circuit and passes a gross short; the contact check after the first pass notices the lost
    contact, and the re-contact measures the leakage again, so the short fails the die."""
    with start_sim_station(seed=2, params=SimParams(gross_short_probability=1.0)) as sim:
        sim.servers["read_smu"].instrument.faults = LoseContactAt(acquisition=4, reading=3)
        with Station.connect(sim_station_config(sim.resources)) as station:
            run = run_sweep(station, tmp_path / "w.h5", "die_04_00", cycles=1)
        assert sim.servers["read_smu"].instrument.faults.count > 4
    assert run.error is None
    with open_wafer(tmp_path / "w.h5") as reader:
        record = reader.dies["die_04_00"]
    assert record.status is DieStatus.FAILED
    assert record.failure_reason.startswith("gross gate short")


def test_a_gate_smu_that_restarted_quietly_does_not_pass_the_leakage_check(
    sim_station: SimFactory,
) -> None:
    sim, station = sim_station(2)
    station.prober.step_to_die(4, 0)
    station.prober.chuck.move_contact()
    assert check_gate_leakage(station, 1e-6) < 1e-6
    sim.servers["gate_smu"].instrument.power_cycle()  # output off, connection kept
    with pytest.raises(InstrumentError, match="not sourcing the gate voltage"):
        check_gate_leakage(station, 1e-6)
    assert station.bias is None
    assert check_gate_leakage(station, 1e-6) < 1e-6  # bias applied again, then measured

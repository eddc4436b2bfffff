"""The sweep service: one plan and one resume for every caller, pause between dies and abort by
a SweepControl, the procedure built from the resolved settings, the station always left safe."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from labctl.core.errors import ConfigError, LabctlError
from labctl.services.station_source import StationSource
from labctl.services.sweep.plan import SweepRequest
from labctl.services.sweep.service import (
    SweepControl,
    SweepOutcome,
    SweepService,
    build_procedure,
)
from labctl.sim.embedded import start_sim_station
from labctl.station.config import SIM_STATION_FILE, sim_station_config
from labctl.store import DieStatus, open_wafer

DIES = ("die_02_00", "die_03_00", "die_04_00")


def statuses(path: Path) -> dict[str, str]:
    with open_wafer(path) as reader:
        return {name: rec.status.value for name, rec in reader.dies.items()}


def test_plan_resolves_defaults_and_builds_the_procedure(tmp_path: Path) -> None:
    service = SweepService(StationSource.simulator(4))
    plan = service.plan(SweepRequest(tmp_path / "w.h5", "die_04_00,die_03_00",
                                     {"cycles": 3, "batching": "row"}))
    assert plan.dies == ("die_03_00", "die_04_00") and plan.wafer_id == "sim-seed-4"
    assert plan.station_label == "simulated station (seed 4)"
    limits = plan.station_config.limits
    assert plan.settings.write_width_s == limits.write_width_s  # the station's operating point
    procedure = build_procedure(plan)
    assert procedure.selected_dies() == ["die_03_00", "die_04_00"]
    assert procedure.output_file == str(tmp_path / "w.h5") and procedure.resume is False
    assert procedure.settings() == plan.settings
    assert procedure.settings().cycles == 3 and procedure.settings().batching == "row"
    assert procedure.wafer_id == "sim-seed-4" and procedure.retry_attempts == 3


def test_bad_requests_change_nothing(tmp_path: Path) -> None:
    service = SweepService(StationSource.from_file(SIM_STATION_FILE))
    out = tmp_path / "w.h5"
    with pytest.raises(ConfigError, match=r"^read_voltage = 0 V is outside"):
        service.plan(SweepRequest(out, DIES, {"read_voltage": 0.0}))
    with pytest.raises(ConfigError, match="no setting 'speed'"):
        service.plan(SweepRequest(out, DIES, {"speed": 1}))
    with pytest.raises(LabctlError, match="nothing to resume"):
        service.plan(SweepRequest(out, DIES, resume=True))
    out.write_bytes(b"x")
    with pytest.raises(LabctlError, match="already exists: resume it"):
        service.plan(SweepRequest(out, DIES))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.h5"]


def test_pause_then_resume_continues_the_file_with_its_own_settings(tmp_path: Path) -> None:
    """Pause between dies; the resume (no dies, no settings given) takes the file's selection,
    wafer and cycles, and only measures what is left."""
    out = tmp_path / "w.h5"
    service = SweepService(StationSource.simulator(2))
    control = SweepControl()

    def pause_when_started(topic: str, record: Any) -> None:
        if topic == "die" and record["status"] == "started":
            control.request_pause()

    plan = service.plan(SweepRequest(out, DIES, {"cycles": 1, "retry_backoff": 0.0}))
    result = service.run(plan, control=control, listeners=[pause_when_started])
    assert result.outcome is SweepOutcome.PAUSED and not result.finished
    assert statuses(out) == {"die_02_00": "complete", "die_03_00": "pending",
                             "die_04_00": "pending"}
    assert "summary:" in (tmp_path / "w.h5.log").read_text()

    resume = service.plan(service.resume_request(out, {"cycles": 2, "retry_attempts": 4}))
    assert resume.dies == DIES and resume.already_complete == ("die_02_00",)
    assert resume.settings.cycles == 1  # measured settings come from the file
    assert resume.values["retry_attempts"] == 4  # run settings from the request
    with pytest.raises(ConfigError, match="other settings: cycles 1"):
        service.plan(SweepRequest(out, None, {"cycles": 2}, resume=True))
    with pytest.raises(ConfigError, match="holds wafer 'sim-seed-2'"):
        SweepService(StationSource.simulator(3)).plan(service.resume_request(out))
    events: list[tuple[str, str]] = []
    result = service.run(resume, listeners=[
        lambda topic, r: topic == "die" and events.append((r["die"], r["status"]))])
    assert result.outcome is SweepOutcome.FINISHED
    assert events[0] == ("die_02_00", "skipped")
    assert statuses(out) == dict.fromkeys(DIES, "complete")
    assert service.measure(out, ",".join(DIES)).to_measure == ()  # nothing left: not run


def test_abort_mid_die_on_an_open_station_leaves_it_safe(tmp_path: Path) -> None:
    out = tmp_path / "aborted.h5"
    with start_sim_station(seed=1) as sim:
        service = SweepService(station_config=sim_station_config(sim.resources))
        plan = service.plan(SweepRequest(out, DIES[:2], {"batching": "row", "cycles": 2}))
        assert plan.wafer_id == "aborted"  # no source: the wafer is named after its file
        control = SweepControl()

        def abort_in_first_die(topic: str, record: Any) -> None:
            if topic == "die" and record["status"] == "started":
                control.request_abort()

        done: list[SweepOutcome] = []
        worker = threading.Thread(target=lambda: done.append(service.run(
            plan, control=control, listeners=[abort_in_first_die]).outcome))
        worker.start()
        worker.join(120)
        assert done == [SweepOutcome.ABORTED]
        assert not sim.state.in_contact and not sim.state.controller.routed
        assert not any(smu.output_on for smu in sim.state.smus.values())
    with open_wafer(out) as reader:
        first = reader.dies["die_02_00"]
        assert first.status is DieStatus.FAILED and "aborted" in first.failure_reason
        assert reader.dies["die_03_00"].status is DieStatus.PENDING

"""Sweep worker: the procedure runs off the GUI thread; pause between dies; bad parameters."""

from __future__ import annotations

import pytest

from gui.sweep_worker import SweepOutcome, SweepRequest, SweepWorker, build_procedure
from labctl.core.errors import ConfigError
from labctl.store import open_wafer

DIES = ("die_02_00", "die_03_00", "die_04_00")


def test_build_procedure_applies_the_request(tmp_path):
    request = SweepRequest(tmp_path / "w.h5", DIES, {"cycles": 3, "batching": "row"}, True)
    procedure = build_procedure(request)
    assert procedure.selected_dies() == list(DIES)
    assert procedure.output_file == str(tmp_path / "w.h5")
    assert procedure.resume is True
    assert procedure.settings().cycles == 3 and procedure.settings().batching == "row"


def test_bad_parameters_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="Read bias"):
        build_procedure(SweepRequest(tmp_path / "w.h5", DIES, {"read_voltage": 0.0}))
    with pytest.raises(ConfigError, match="no parameter 'speed'"):
        build_procedure(SweepRequest(tmp_path / "w.h5", DIES, {"speed": 1}))


def test_pause_stops_between_dies_and_leaves_the_station_safe(sim_config, tmp_path, qtbot):
    sim, config = sim_config
    path = tmp_path / "w.h5"
    worker = SweepWorker(config, SweepRequest(path, DIES, {"batching": "tile"}))
    events: list[dict] = []
    worker.die_event.connect(events.append)
    worker.die_event.connect(lambda e: e["status"] == "started" and worker.request_pause())
    with qtbot.waitSignal(worker.finished_with, timeout=120000) as finished:
        worker.start()
    worker.wait()
    assert finished.args == [SweepOutcome.PAUSED, ""]
    assert [(e["die"], e["status"]) for e in events] == [
        ("die_02_00", "started"), ("die_02_00", "complete")]
    with open_wafer(path) as reader:
        statuses = {name: record.status.value for name, record in reader.dies.items()}
    assert statuses == {"die_02_00": "complete", "die_03_00": "pending",
                        "die_04_00": "pending"}
    assert not sim.state.in_contact
    assert not any(smu.output_on for smu in sim.state.smus.values())
    assert not sim.state.controller.routed

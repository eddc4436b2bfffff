"""Sweep worker: the service's sweep runs off the GUI thread; pause between dies."""

from __future__ import annotations

from gui.sweep_worker import SweepWorker
from labctl.services.sweep.plan import SweepRequest
from labctl.services.sweep.service import SweepOutcome, SweepService
from labctl.store import open_wafer

DIES = ("die_02_00", "die_03_00", "die_04_00")


def test_pause_stops_between_dies_and_leaves_the_station_safe(sim_config, tmp_path, qtbot):
    sim, config = sim_config
    path = tmp_path / "w.h5"
    service = SweepService(station_config=config)
    worker = SweepWorker(service, service.plan(SweepRequest(path, DIES, {"batching": "tile"})))
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
        assert reader.info.wafer_id == "w"  # an open station without a source: the file name
    assert statuses == {"die_02_00": "complete", "die_03_00": "pending",
                        "die_04_00": "pending"}
    assert not sim.state.in_contact
    assert not any(smu.output_on for smu in sim.state.smus.values())
    assert not sim.state.controller.routed

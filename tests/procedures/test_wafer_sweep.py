"""Wafer sweep on the simulated station: a valid file, classification against ground truth,
failed dies with reasons, resume, abort in safe state, PyMeasure compatibility."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pymeasure.experiment import Procedure, Results, Worker
from sweep_helpers import SimFactory, run_sweep

from labctl.core.defects import DefectCode
from labctl.core.wafer_map import parse_die_name
from labctl.sim.embedded import SimStationServer
from labctl.store.layout import DieStatus
from labctl.store.reader import open_wafer
from procedures.events import ROW_COLUMNS

CELLS_PER_DIE = 196 * 100 + 100 * 10


def assert_safe_state(sim: SimStationServer) -> None:
    """What safe_state() promises, read from the simulator's shared state."""
    state = sim.state
    for role in ("read_smu", "gate_smu"):
        smu = state.smus[role]
        assert not smu.output_on, role
        assert smu.source_voltage_V == 0.0, role
    assert not state.in_contact


def agreement_with_truth(sim: SimStationServer, path: Path, name: str) -> tuple[int, int, int]:
    """(cells agreeing, cells, shorts+opens missed) of die `name` in the file vs the truth."""
    die = sim.wafer.die(*parse_die_name(name))
    agree = cells = missed = 0
    with open_wafer(path) as reader:
        for tile in reader.tiles(name):
            truth = die.truth(tile.index).defects
            assert tile.defects is not None
            agree += int(np.count_nonzero(tile.defects == truth))
            cells += truth.size
            hard = np.isin(truth, (DefectCode.SHORT, DefectCode.OPEN))
            missed += int(np.count_nonzero(tile.defects[hard] != truth[hard]))
    return agree, cells, missed


def test_sweep_writes_a_valid_wafer_file(sim_station: SimFactory, tmp_path: Path) -> None:
    sim, station = sim_station(1)
    out = tmp_path / "wafer.h5"
    run = run_sweep(station, out, "die_04_00,die_03_00,die_03_02")
    assert run.error is None and run.status == Procedure.FINISHED
    with open_wafer(out) as reader:
        assert reader.info.wafer_id == "test-wafer"
        procedure = reader.info.procedure
        assert procedure["settings"]["cycles"] == 2
        assert procedure["dies"] == ["die_03_00", "die_04_00", "die_03_02"]
        assert set(reader.info.station["idn"]) == {"prober", "read_smu", "gate_smu",
                                                  "controller"}
        statuses = {name: rec.status for name, rec in reader.dies.items()}
        assert statuses == {"die_03_00": DieStatus.COMPLETE, "die_04_00": DieStatus.COMPLETE,
                            "die_03_02": DieStatus.FAILED}
        # die_03_02 of seed 1 has a gross word-line short: failed with the measured figure.
        assert reader.dies["die_03_02"].failure_reason.startswith("gross gate short")
        tiles = reader.tiles("die_03_00", with_reads=True)
        assert [t.shape for t in tiles] == [(196, 100), (100, 10)]
        assert tiles[0].reads_parallel_ohm is not None
        assert tiles[0].reads_parallel_ohm.shape == (2, 196, 100)
        assert tiles[0].thresholds is not None
    # Dies in map order, each started then finished; rows reported for complete dies.
    assert [(e["die"], e["status"]) for e in run.topic("die")] == [
        ("die_03_00", "started"), ("die_03_00", "complete"),
        ("die_04_00", "started"), ("die_04_00", "complete"),
        ("die_03_02", "started"), ("die_03_02", "failed"),
    ]
    rows = run.topic("results")
    assert len(rows) == 2 * (196 + 100)
    assert set(rows[0]) == set(ROW_COLUMNS)
    assert sum(r["Cells"] for r in rows) == 2 * CELLS_PER_DIE
    progress = run.topic("progress")
    assert progress == sorted(progress) and progress[-1] == 100.0
    assert_safe_state(sim)


@pytest.mark.parametrize(
    ("seed", "dies"),
    [
        (0, "die_00_02,die_06_02"),   # a failed word line, a failed bit line
        (2, "die_03_00,die_03_02"),   # a "bad" die (~4 % defects), a failed word line
        (3, "die_02_01,die_05_01"),   # failed lines in tile 1 and tile 0
        (5, "die_07_03"),             # two failed lines
    ],
)
def test_classification_agrees_with_ground_truth(
    sim_station: SimFactory, tmp_path: Path, seed: int, dies: str
) -> None:
    sim, station = sim_station(seed)
    out = tmp_path / "wafer.h5"
    run = run_sweep(station, out, dies)
    assert run.error is None
    for name in dies.split(","):
        agree, cells, missed = agreement_with_truth(sim, out, name)
        assert agree / cells >= 0.999, (name, agree / cells)
        assert missed == 0, name


def test_resume_skips_complete_dies_and_redoes_failed_ones(
    sim_station: SimFactory, tmp_path: Path
) -> None:
    _sim, station = sim_station(1)
    out = tmp_path / "wafer.h5"
    run_sweep(station, out, "die_03_00,die_03_02")
    with open_wafer(out) as reader:
        first = reader.tile("die_03_00", 0)
    run = run_sweep(station, out, "die_03_00,die_04_00,die_03_02", resume=True)
    assert run.error is None
    assert [(e["die"], e["status"]) for e in run.topic("die") if e["status"] != "started"] == [
        ("die_03_00", "skipped"), ("die_04_00", "complete"), ("die_03_02", "failed")]
    skipped = run.die_events("skipped")[0]
    assert skipped["cells"] == CELLS_PER_DIE and skipped["yield_fraction"] > 0.9
    with open_wafer(out) as reader:
        np.testing.assert_array_equal(reader.tile("die_03_00", 0).r_parallel_ohm,
                                      first.r_parallel_ohm)
        assert reader.dies["die_04_00"].status is DieStatus.COMPLETE


def test_abort_stops_between_rows_and_leaves_the_station_safe(
    sim_station: SimFactory, tmp_path: Path
) -> None:
    sim, station = sim_station(2)
    out = tmp_path / "wafer.h5"

    def stop_in_second_die(run, topic, payload) -> None:
        if topic == "progress" and 50.0 < payload < 100.0:
            run.runner.request_stop()

    run = run_sweep(station, out, "die_03_00,die_04_00", listener=stop_in_second_die,
                    batching="row")
    assert run.error is None
    assert run.status == Procedure.ABORTED
    assert [e["die"] for e in run.die_events("aborted")] == ["die_04_00"]
    assert_safe_state(sim)
    with open_wafer(out) as reader:
        assert reader.dies["die_03_00"].status is DieStatus.COMPLETE
        assert reader.dies["die_04_00"].status is DieStatus.FAILED
        assert "aborted" in reader.dies["die_04_00"].failure_reason


def test_row_batching_reports_progress_row_by_row(sim_station: SimFactory,
                                                  tmp_path: Path) -> None:
    sim, station = sim_station(4)
    out = tmp_path / "wafer.h5"
    run = run_sweep(station, out, "die_03_00", batching="row", cycles=1)
    assert run.error is None
    # One progress step per row read: 2 passes x (196 + 100) rows, plus start and end.
    assert len(run.topic("progress")) >= 2 * (196 + 100)
    agree, cells, missed = agreement_with_truth(sim, out, "die_03_00")
    assert agree / cells >= 0.999 and missed == 0


def test_runs_under_a_pymeasure_worker(sim_station: SimFactory, tmp_path: Path) -> None:
    """The procedure works the GUI's way: a Worker thread recording rows into Results."""
    from procedures.wafer_sweep import WaferSweepProcedure

    sim, station = sim_station(4)
    procedure = WaferSweepProcedure(dies="die_03_00", output_file=str(tmp_path / "w.h5"),
                                    wafer_id="gui", cycles=1)
    procedure.station = station
    results = Results(procedure, str(tmp_path / "rows.csv"))
    worker = Worker(results)
    worker.start()
    worker.join(timeout=60)
    assert procedure.status == Procedure.FINISHED
    data = Results.load(str(tmp_path / "rows.csv")).data
    assert len(data) == 196 + 100
    assert data["Cells"].sum() == CELLS_PER_DIE
    assert_safe_state(sim)
    header = (tmp_path / "rows.csv").read_text().splitlines()[:20]
    assert any("Read bias: 0.1 V" in line for line in header), json.dumps(header)

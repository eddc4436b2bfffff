"""Per-die summaries: counts, yield, ok-cell medians, and the inspect --json schema."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from labctl.reports.summary import DEFECT_NAMES, cell_stats, summarize_wafer
from labctl.store import DieStatus, TileData, WaferFile, open_wafer
from labctl.testing.synthetic import synthetic_die


def tile(index: int, r_p: list[float], defects: list[int], failures: list[int] | None = None):
    r = np.array([r_p], dtype=float)
    return TileData(
        index=index,
        r_parallel_ohm=r,
        r_antiparallel_ohm=2 * r,
        tmr=np.ones_like(r),
        defects=np.array([defects], dtype=np.uint8),
        write_failures=None if failures is None else np.array([failures], dtype=np.uint8),
    )


def test_cell_stats_count_every_class_and_take_medians_over_ok_cells() -> None:
    stats = cell_stats(
        [
            tile(0, [1000, 2000, 50, 1e10], [0, 0, 1, 2], [0, 2, 0, 0]),
            tile(1, [3000, 4000, 5000], [0, 3, 4], [1, 0, 0]),
        ]
    )
    assert stats.cells == 7 and stats.ok == 3
    assert stats.defects == {"short": 1, "open": 1, "stuck_p": 1, "stuck_ap": 1}
    assert stats.yield_fraction == pytest.approx(3 / 7)
    assert stats.median_r_parallel_ohm == 2000
    assert stats.median_r_antiparallel_ohm == 4000
    assert stats.median_tmr == 1.0
    assert stats.intermittent == 2
    assert DEFECT_NAMES == ("short", "open", "stuck_p", "stuck_ap")


def test_cell_stats_without_ok_cells_or_failure_counts() -> None:
    stats = cell_stats([tile(0, [50, 60], [1, 1])])
    assert stats.ok == 0 and stats.yield_fraction == 0.0
    assert stats.median_r_parallel_ohm is None and stats.intermittent is None


def test_wafer_summary_json_schema(tmp_path: Path) -> None:
    path = tmp_path / "w.h5"
    names = ["die_03_00", "die_04_00", "die_05_00"]
    with WaferFile.create(path, "W7", {}, {}, dies=names) as wafer:
        wafer.begin_die("die_03_00")
        for k, t in enumerate(synthetic_die(1, ((30, 20), (10, 5)))):
            wafer.write_tile("die_03_00", k, t.reads_parallel_ohm, t.reads_antiparallel_ohm)
        wafer.complete_die("die_03_00")
        wafer.begin_die("die_04_00")
        wafer.fail_die("die_04_00", "prober timeout")
    with open_wafer(path) as reader:
        summary = summarize_wafer(reader)
        tiles = reader.tiles("die_03_00")
    assert summary.count(DieStatus.COMPLETE) == 1 and summary.count(DieStatus.FAILED) == 1
    data = json.loads(json.dumps(summary.to_json()))
    assert data["wafer_id"] == "W7" and list(data["dies"]) == names
    done = data["dies"]["die_03_00"]
    expected = cell_stats(tiles)
    assert done["status"] == "complete"
    assert done["yield"] == pytest.approx(expected.yield_fraction)
    assert done["defects"] == expected.defects
    assert set(done["defects"]) == {"short", "open", "stuck_p", "stuck_ap"}
    assert done["cells"] == 30 * 20 + 10 * 5
    assert done["median_r_parallel_ohm"] == pytest.approx(expected.median_r_parallel_ohm)
    assert 3000 < done["median_r_parallel_ohm"] < 5000
    assert done["median_r_antiparallel_ohm"] > done["median_r_parallel_ohm"]
    assert 0.5 < done["median_tmr"] < 2
    assert done["failure_reason"] is None
    failed = data["dies"]["die_04_00"]
    assert failed["status"] == "failed" and failed["failure_reason"] == "prober timeout"
    assert failed["yield"] is None and failed["defects"] is None
    assert data["dies"]["die_05_00"]["status"] == "pending"

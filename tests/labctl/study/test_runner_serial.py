"""The results table and the serial runner: failures recorded, resume, torn lines, one study per
folder."""

from __future__ import annotations

import json

import pytest
from study_helpers import (
    failing_fake_point,
    fake_metrics,
    read_table,
    refusing_point,
)

from labctl.core.errors import ConfigError
from labctl.study.grid import parse_grid
from labctl.study.runner import run_study

GRID = {"study": {"modes": ["unaware"]}, "axes": {"wafer_seed": [0, 1, 2], "train_seed": [0, 1]}}


def test_a_failing_point_is_recorded_and_retried_by_the_next_run(tmp_path):
    grid = parse_grid(GRID)
    outcome = run_study(grid, tmp_path, workers=1, point_fn=failing_fake_point,
                        show_progress=False)
    assert (outcome.ran, outcome.failed) == (6, 2)
    rows = read_table(tmp_path)
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(rows) == 6 and len(failed) == 2
    assert all(r["wafer_seed"] == "1" and "no wafer for seed 1" in r["reason"] for r in failed)
    ok = [r for r in rows if r["status"] == "ok"]
    assert all(float(r["unaware.gap_pct"]) == 10.0 + int(r["wafer_seed"]) + 0.5 *
               int(r["train_seed"]) for r in ok)

    again = run_study(grid, tmp_path, workers=1, point_fn=fake_metrics, show_progress=False)
    assert (again.ran, again.skipped, again.failed) == (2, 4, 0)
    rows = read_table(tmp_path)
    assert sorted(r["point_id"] for r in rows) == sorted(p.point_id for p in grid.points())
    assert {r["status"] for r in rows} == {"ok"}


def test_a_finished_study_does_no_work_when_run_again(tmp_path):
    grid = parse_grid(GRID)
    run_study(grid, tmp_path, workers=1, point_fn=fake_metrics, show_progress=False)
    before = (tmp_path / "results.csv").read_text()
    outcome = run_study(grid, tmp_path, workers=2, point_fn=refusing_point, show_progress=False)
    assert (outcome.ran, outcome.skipped) == (0, 6)
    assert (tmp_path / "results.csv").read_text() == before
    runs = json.loads((tmp_path / "study.json").read_text())["runs"]
    assert [r["pending"] for r in runs] == [6, 0]


def test_new_axis_values_run_only_the_new_points(tmp_path):
    run_study(parse_grid(GRID), tmp_path, workers=1, point_fn=fake_metrics, show_progress=False)
    wider = parse_grid({**GRID, "axes": {"wafer_seed": [0, 1, 2, 3], "train_seed": [0, 1]}})
    outcome = run_study(wider, tmp_path, workers=1, point_fn=fake_metrics, show_progress=False)
    assert (outcome.ran, outcome.skipped) == (2, 6)
    assert len(read_table(tmp_path)) == 8


def test_a_torn_last_line_is_dropped_and_its_point_run_again(tmp_path):
    grid = parse_grid(GRID)
    run_study(grid, tmp_path, workers=1, point_fn=fake_metrics, show_progress=False)
    path = tmp_path / "results.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 3])  # killed mid-write
    outcome = run_study(grid, tmp_path, workers=1, point_fn=fake_metrics, show_progress=False)
    assert (outcome.ran, outcome.skipped) == (1, 5)
    rows = read_table(tmp_path)
    assert len(rows) == 6 and len({r["point_id"] for r in rows}) == 6


def test_a_folder_holds_one_study(tmp_path):
    run_study(parse_grid(GRID), tmp_path, workers=1, point_fn=fake_metrics, show_progress=False)
    other = parse_grid({**GRID, "sim": {"r_on_median_ohm": 3000.0}})
    with pytest.raises(ConfigError, match="other fixed settings"):
        run_study(other, tmp_path, workers=1, point_fn=fake_metrics, show_progress=False)


def test_cli_refuses_a_bad_grid_in_one_line(tmp_path, capsys):
    from labctl.cli.main import main

    grid = tmp_path / "grid.toml"
    grid.write_text('[axes]\n"sim.warp_factor" = [9]\n')
    assert main(["study", "run", "--grid", str(grid), "--out", str(tmp_path / "out")]) == 2
    assert "warp_factor" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

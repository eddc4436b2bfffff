"""`labctl study report`: seed intervals, the table and the figures."""

from __future__ import annotations

import math

import pytest
from scipy import stats
from study_helpers import fake_metrics

from labctl.cli.main import main
from labctl.core.errors import ConfigError
from labctl.study.grid import parse_grid
from labctl.study.report import load_results, phase_diagram, seed_summary, t_interval
from labctl.study.runner import run_study

GRID = {
    "study": {"modes": ["unaware", "statistics-aware"]},
    "axes": {
        "sim.r_short_median_ohm": [50.0, 1000.0],
        "sim.r_on_median_ohm": [1000.0, 3000.0, 5000.0],
        "wafer_seed": [0, 1, 2],
        "train_seed": [0, 1],
    },
}


@pytest.fixture
def study(tmp_path):
    run_study(parse_grid(GRID), tmp_path, workers=1, point_fn=fake_metrics, show_progress=False)
    return tmp_path


def test_t_interval_is_the_student_interval():
    mean, half, n = t_interval([1.0, 2.0, 3.0])
    assert (mean, n) == (2.0, 3)
    assert half == pytest.approx(stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3))
    assert math.isnan(t_interval([4.0])[1])


def test_seed_summary_has_one_row_per_design_point(study):
    results = load_results(study)
    assert results.design_axes == ("sim.r_short_median_ohm", "sim.r_on_median_ohm")
    summary = seed_summary(results)
    assert len(summary) == 6 and set(summary["n"]) == {6}
    # fake gaps are 10 + wafer_seed + train_seed / 2 over seeds 0..2 x 0..1
    gaps = [10 + w + t / 2 for w in range(3) for t in range(2)]
    mean, half, _ = t_interval(gaps)
    assert summary["unaware.gap_mean_pct"].tolist() == pytest.approx([mean] * 6)
    assert summary["statistics-aware.gap_ci95_pct"].tolist() == pytest.approx([half] * 6)


def test_report_command_writes_tables_and_figures(study, capsys):
    status = main(["study", "report", str(study), "--x", "r_on_median_ohm",
                   "--y", "r_short_median_ohm"])
    assert status == 0
    out = capsys.readouterr().out
    assert "simulator truth" in out and "statistics-aware" in out
    report = study / "report"
    for name in ("summary.csv", "summary.md", "phase_diagram.png",
                 "gap_vs_sim_r_on_median_ohm.png"):
        assert (report / name).stat().st_size > 0
    assert (report / "phase_diagram.png").read_bytes()[:4] == b"\x89PNG"
    assert "±" in (report / "summary.md").read_text()


def test_phase_diagram_needs_the_other_axes_fixed(study, tmp_path):
    results = load_results(study)
    with pytest.raises(ConfigError, match="--where"):
        phase_diagram(results, "r_on_median_ohm", "wafer_seed", tmp_path / "x.png")
    assert main(["study", "report", str(study), "--x", "r_on_median_ohm", "--y", "wafer_seed",
                 "--where", "r_short_median_ohm=50.0"]) == 0

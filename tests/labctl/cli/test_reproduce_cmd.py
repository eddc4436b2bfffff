"""`labctl reproduce --quick` end to end on the simulated station: the results contract."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hardware"))
from hardware_helpers import DIES, measured_wafer

from labctl.cli.main import main


def test_reproduce_quick_writes_the_results_contract(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["reproduce", "--sim", "--quick", "--out", str(out), "--wafer", str(measured_wafer()),
            "--in-situ-images", "20"]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert 0 < results["baseline_error"] < 1
    assert set(results["modes"]) == {"unaware", "hardware-aware", "statistics-aware"}
    for entry in results["modes"].values():
        assert set(entry["per_die"]) == set(DIES)
        errors = list(entry["per_die"].values())
        assert all(0 <= e <= 1 for e in errors)
        assert entry["mean"] == pytest.approx(sum(errors) / len(errors))
        assert entry["std"] >= 0
    assert 0 <= results["in_situ_agreement"] <= 1
    assert results["in_situ"]["images"] == 20 * len(DIES)
    assert results["seed"] == 0 and results["holdout_seed"] == 1
    assert results["wafer"] == str(out / "wafer.h5")
    assert results["holdout"]["seed"] == 1 and len(results["holdout"]["per_die"]) == 2
    for name in ("results.csv", "results.md", "per_die_error.png", "reproduce.log"):
        assert (out / name).stat().st_size > 0
    csv_rows = (out / "results.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + 1 + 3 * len(DIES) + 2
    assert "mean ± std" in (out / "results.md").read_text()
    assert "hardware-aware" in capsys.readouterr().out


def test_reproduce_refuses_a_holdout_seed_without_the_simulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["reproduce", "--station", str(tmp_path / "s.toml"), "--holdout-seed", "4",
            "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "--holdout-seed only applies with --sim" in capsys.readouterr().err

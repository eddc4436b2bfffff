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
    assert set(results["modes"]) == {"unaware", "hardware-aware", "statistics-aware",
                                     "statistics-aware-routed"}
    for entry in results["modes"].values():
        assert set(entry["per_die"]) == set(DIES)
        errors = list(entry["per_die"].values())
        assert all(0 <= e <= 1 for e in errors)
        assert entry["mean"] == pytest.approx(sum(errors) / len(errors))
        assert entry["std"] >= 0 and min(errors) <= entry["median"] <= max(errors)
        situ = entry["in_situ"]  # every mode runs in situ, on every die
        assert situ["images_per_die"] == 20 and set(situ["per_die"]) == set(DIES)
        assert 0 <= situ["error"] <= 1 and 0 <= situ["agreement"] <= 1
        assert entry["failed_dies"] == results["failed_dies"]
    paper = results["modes"]["statistics-aware"]
    routed = results["modes"]["statistics-aware-routed"]
    assert paper["per_die_config"]["routing_bits"] == 0 and not paper["routing"]
    assert routed["per_die_config"]["routing_bits"] > 0 and routed["routing"]
    assert results["in_situ_agreement"] == paper["in_situ"]["agreement"]
    assert results["in_situ"]["images"] == 20 * len(DIES)
    assert results["seed"] == 0 and results["holdout_seed"] == 1
    assert results["wafer"] == str(out / "wafer.h5")
    assert results["holdout"]["seed"] == 1 and len(results["holdout"]["per_die"]) == 2
    assert results["sim_params"]["r_wire_bitline_ohm"] > 0  # the device assumption recorded
    for name in ("results.csv", "results.md", "per_die_error.png", "reproduce.log"):
        assert (out / name).stat().st_size > 0
    csv_rows = (out / "results.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + 1 + 4 * len(DIES) + 2
    md = (out / "results.md").read_text()
    assert "mean ± std" in md and "median [p25 – p75]" in md
    assert "per-die row repair" in md and "Failed dies" in md
    assert "hardware-aware" in capsys.readouterr().out


def test_reproduce_refuses_a_holdout_seed_without_the_simulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["reproduce", "--station", str(tmp_path / "s.toml"), "--holdout-seed", "4",
            "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "--holdout-seed only applies with --sim" in capsys.readouterr().err

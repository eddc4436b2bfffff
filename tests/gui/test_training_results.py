"""results.json of a reproduce run: accepted contract and clear errors for anything else."""

from __future__ import annotations

import json

import pytest

from gui.training_results import load_results
from labctl.core.errors import DataFormatError, LabctlError

GOOD = {
    "baseline_error": 0.08,
    "modes": {
        "statistics-aware": {"per_die": {"die_03_00": 0.09, "die_02_00": 0.085},
                             "mean": 0.0875, "std": 0.0025},
        "unaware": {"per_die": {"die_02_00": 0.2}, "mean": 0.2, "std": 0.0},
        "custom": {"per_die": {}, "mean": 0.1, "std": 0.0},
    },
    "seed": 1,
}


def write(tmp_path, content):
    path = tmp_path / "results.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_loads_the_contract_and_orders_modes_and_dies(tmp_path):
    results = load_results(write(tmp_path, GOOD).parent)  # a folder holding results.json
    assert results.baseline_error == 0.08
    assert results.mode_names() == ["unaware", "statistics-aware", "custom"]
    assert results.dies() == ["die_02_00", "die_03_00"]  # wafer-map order
    assert results.modes["statistics-aware"].per_die["die_03_00"] == 0.09


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not JSON"),
    ([1, 2], "JSON object"),
    ({"modes": GOOD["modes"]}, "baseline_error"),
    ({"baseline_error": 0.1, "modes": []}, "must be an object"),
    ({"baseline_error": 0.1, "modes": {"m": {"mean": 0.1, "std": 0}}}, "per_die"),
    ({"baseline_error": 1.5, "modes": GOOD["modes"]}, "fraction"),
    ({"baseline_error": 0.1, "modes": {"m": {"per_die": {"d": "x"}, "mean": 0.1, "std": 0}}},
     "finite number"),
])
def test_bad_results_are_rejected_with_the_reason(tmp_path, content, message):
    with pytest.raises(DataFormatError, match=message):
        load_results(write(tmp_path, content))


def test_a_training_folder_summary_is_read_too(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"baseline_error": 0.07, "modes": {}}))
    results = load_results(tmp_path)
    assert results.path.name == "summary.json"
    assert results.baseline_error == 0.07 and results.mode_names() == []


def test_summary_json_keeps_per_die_errors_under_dies(tmp_path):
    dies = {"per_die": {"die_02_00": 0.13}, "mean": 0.13, "std": 0.0, "yield": 1.0}
    summary = {"baseline_error": 0.12, "modes": {"hardware-aware": {"dies": dies},
                                                 "unaware": {"dies": dies, "virtual_dies": {}}}}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    results = load_results(tmp_path)
    assert results.modes["hardware-aware"].per_die == {"die_02_00": 0.13}
    assert results.mode_names() == ["unaware", "hardware-aware"]


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(LabctlError, match="no such file"):
        load_results(tmp_path)

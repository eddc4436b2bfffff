"""Training panel: bar chart and table from results.json, command lines, runs, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PyQt6.QtWidgets import QMessageBox

from gui.training_panel import TrainingPanel, reproduce_args, training_args
from labctl.core.errors import LabctlError

RESULTS = {
    "baseline_error": 0.08,
    "modes": {
        "unaware": {"per_die": {"die_02_00": 0.21, "die_03_00": 0.19}, "mean": 0.2, "std": 0.01},
        "hardware-aware": {"per_die": {"die_02_00": 0.083, "die_03_00": 0.085},
                           "mean": 0.084, "std": 0.001},
    },
}


@pytest.fixture
def panel(qtbot):
    widget = TrainingPanel(["--station", "lab.toml"])
    qtbot.addWidget(widget)
    return widget


def test_results_become_bars_baseline_and_table(panel, tmp_path, qtbot):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(RESULTS))
    with qtbot.waitSignal(panel.results_loaded):
        panel.load(path)
    assert panel.bar_heights("unaware") == pytest.approx([21.0, 19.0])
    assert panel.bar_heights("hardware-aware") == pytest.approx([8.3, 8.5])
    assert panel.baseline_percent() == pytest.approx(8.0)
    table = panel.table
    assert table.columnCount() == 2 and table.rowCount() == 4
    assert table.verticalHeaderItem(0).text() == "die_02_00"
    assert table.item(0, 0).text() == "21.00"
    assert table.item(2, 1).text() == "8.40 ± 0.10"
    assert table.item(3, 0).text() == "+12.00 pt"
    assert "baseline 8.00 %" in panel.summary_label.text()


def test_a_bad_results_file_opens_a_dialog_and_keeps_the_panel(panel, tmp_path, qtbot):
    path = tmp_path / "results.json"
    path.write_text("{broken")
    assert panel.load(path) is None
    boxes = [b for b in panel.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and "not JSON" in boxes[0].text()
    assert panel.results is None


def test_command_lines():
    args = training_args("hardware-aware", Path("w.h5"), Path("out"), "die_03_00", 2, 7, True)
    assert args == ["train", "--mode", "hardware-aware", "--wafer", "w.h5", "--out", "out",
                    "--seed", "7", "--die", "die_03_00", "--epochs", "2", "--quick"]
    assert "--die" not in training_args("ideal", Path("w.h5"), Path("o"), "die_03_00", None, 0)
    assert "--die" not in training_args("hardware-aware", Path("w.h5"), Path("o"), None, None, 0)
    with pytest.raises(LabctlError, match="unknown training mode"):
        training_args("magic", Path("w.h5"), Path("o"), None, None, 0)
    assert reproduce_args(["--sim", "--seed", "2"], Path("r"), True) == [
        "reproduce", "--sim", "--seed", "2", "--out", "r", "--quick"]
    with pytest.raises(LabctlError, match="needs a station"):
        reproduce_args([], Path("r"), False)


def test_buttons_need_a_wafer_or_a_station(qtbot):
    review = TrainingPanel([])
    qtbot.addWidget(review)
    assert not review.train_button.isEnabled() and not review.reproduce_button.isEnabled()
    review.set_wafer(Path("w.h5"))
    assert review.train_button.isEnabled()


def test_a_failing_run_is_reported_not_loaded(panel, tmp_path, qtbot):
    """A real child process: `labctl train` on a missing wafer file exits non-zero."""
    panel.set_wafer(tmp_path / "missing.h5")
    panel.out_edit.setText(str(tmp_path / "out"))
    lines: list[str] = []
    panel.output_line.connect(lines.append)
    with qtbot.waitSignal(panel.runner.finished, timeout=60000) as done:
        panel.start_training()
        assert panel.stop_button.isEnabled()
    assert done.args[0] != 0
    assert lines[0].startswith("training: labctl train --mode all --wafer")
    assert any("exit status" in line for line in lines)
    assert panel.train_button.isEnabled() and panel.results is None

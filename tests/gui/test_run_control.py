"""Run control: die picker, the request it builds, buttons following the run state."""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6.QtCore import Qt

from gui.run_control import GUI_DEFAULTS, RunControlPanel, RunState
from labctl.core.errors import ConfigError
from labctl.services.sweep.spec import MANAGED_PARAMETERS, sweep_spec


@pytest.fixture
def panel(qtbot):
    widget = RunControlPanel()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_picking_dies_by_clicking_keeps_wafer_map_order(panel, qtbot):
    for name in ("die_04_01", "die_03_00"):
        qtbot.mouseClick(panel.picker.button(name), Qt.MouseButton.LeftButton)
    assert panel.picker.selected() == ["die_03_00", "die_04_01"]
    assert panel.selection_label.text() == "2 of 36 dies"


def test_build_request_from_the_inputs(panel, tmp_path):
    panel.output_edit.setText(str(tmp_path / "w.h5"))
    panel.picker.set_selected(["die_02_00", "die_03_00"])
    request = panel.build_request()
    assert request.output == tmp_path / "w.h5"
    assert request.dies == ("die_02_00", "die_03_00")
    assert not request.resume
    for managed in MANAGED_PARAMETERS:
        assert managed not in request.values
    assert set(request.values) == {s.name for s in sweep_spec()}  # one input per setting
    for name, value in GUI_DEFAULTS.items():
        assert request.values[name] == value


def test_missing_output_or_dies_is_a_clear_error(panel):
    with pytest.raises(ConfigError, match="output"):
        panel.build_request()
    panel.output_edit.setText("w.h5")
    panel.picker.set_selected([])
    with pytest.raises(ConfigError, match="at least one die"):
        panel.build_request()
    with pytest.raises(ConfigError, match="not on the wafer map"):
        panel.picker.set_selected(["die_00_00"])


def test_start_emits_the_request(panel, qtbot):
    panel.output_edit.setText("w.h5")
    panel.picker.set_selected(["die_02_00"])
    with qtbot.waitSignal(panel.start_requested) as started:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert started.args[0].output == Path("w.h5")


def test_buttons_follow_the_state(panel):
    panel.picker.set_selected(["die_02_00"])
    panel.set_resumable(True)
    assert panel.start_button.isEnabled() and panel.resume_button.isEnabled()
    assert not panel.abort_button.isEnabled() and not panel.pause_button.isEnabled()
    panel.set_state(RunState.RUNNING, "running")
    assert panel.abort_button.isEnabled() and panel.pause_button.isEnabled()
    assert not panel.start_button.isEnabled() and not panel.form.isEnabled()
    panel.set_state(RunState.ABORTING)
    assert not panel.abort_button.isEnabled() and not panel.pause_button.isEnabled()
    panel.set_state(RunState.IDLE)
    panel.set_station_available(False)
    assert not panel.start_button.isEnabled() and not panel.resume_button.isEnabled()
    assert "Read-only" in panel.state_label.text()


def test_progress_is_clamped(panel):
    panel.set_progress(42.5)
    assert panel.progress.value() == 425
    panel.set_progress(180.0)
    assert panel.progress.value() == 1000

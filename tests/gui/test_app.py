"""End-to-end: the main window on the simulated station, and the window on wafer files alone.

Acceptance (issue 5): start the simulated station, select two dies, start the sweep, wait for
completion, check the wafer-map colours and the die heatmaps against the HDF5 file; abort
mid-die leaves the station safe and the file consistent (and resumable).
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QMessageBox

from gui.app import MainWindow
from gui.run_control import RunState
from gui.style import DEFECT_COLORS, STATUS_COLORS
from labctl.core.defects import DefectCode
from labctl.core.wafer_map import ALL_DIE_NAMES
from labctl.store import open_wafer

SWEEP_TIMEOUT_MS = 120_000


@pytest.fixture
def station_window(sim_config, qtbot):
    sim, config = sim_config
    window = MainWindow(config, None, ["--sim", "--seed", "1"])
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.instruments.last_status is not None, timeout=10_000)
    yield sim, window
    window.close()


def wait_idle(qtbot, window):
    qtbot.waitUntil(lambda: window.sweep is None and window.run_control.state() == RunState.IDLE,
                    timeout=SWEEP_TIMEOUT_MS)


def click(qtbot, widget):
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def click_die_on_map(qtbot, window, name):
    position = window.wafer_map.die_center_in_view(name).toPoint()
    qtbot.mouseClick(window.wafer_map.graphics.viewport(), Qt.MouseButton.LeftButton,
                     pos=position)


def assert_station_safe(sim):
    state = sim.state
    assert not state.in_contact and state.prober.height == "separation"
    assert not any(smu.output_on for smu in state.smus.values())
    assert not state.controller.routed


def test_sweep_two_dies_end_to_end(station_window, qtbot, tmp_path):
    sim, window = station_window
    path = tmp_path / "wafer.h5"
    dies = ["die_03_00", "die_04_01"]
    window.run_control.output_edit.setText(str(path))
    for name in dies:
        click(qtbot, window.run_control.picker.button(name))
    click(qtbot, window.run_control.start_button)
    qtbot.waitUntil(lambda: window.sweep is not None, timeout=10_000)
    polls_after_sweep: list[object] = []  # the panel does not poll while the sweep runs
    window.instruments.status_updated.connect(polls_after_sweep.append)
    wait_idle(qtbot, window)

    assert window.run_control.state_label.text() == "Sweep finished"
    assert window.run_control.progress.value() == 1000
    complete, pending = QColor(STATUS_COLORS["complete"]), QColor(STATUS_COLORS["pending"])
    for name in ALL_DIE_NAMES:
        assert window.wafer_map.die_color(name) == (complete if name in dies else pending)

    with open_wafer(path) as reader:
        assert [n for n, r in reader.dies.items() if r.status.value == "complete"] == dies
        stored = {name: reader.tiles(name) for name in dies}
    for name in dies:
        click_die_on_map(qtbot, window, name)
        assert window.wafer_map.selected_die() == name
        assert window.die_view.die() == name
        for tile in stored[name]:
            window.die_view.set_tile(tile.index)
            np.testing.assert_allclose(window.die_view.displayed_image("r_parallel"),
                                       tile.r_parallel_ohm * 1e-3)
            np.testing.assert_allclose(window.die_view.displayed_image("r_antiparallel"),
                                       tile.r_antiparallel_ohm * 1e-3)
            np.testing.assert_allclose(window.die_view.displayed_image("tmr"), tile.tmr * 100)
            rgba = window.die_view.displayed_image("defects")
            for code, color in DEFECT_COLORS.items():
                q = QColor(color)
                assert (rgba[tile.defects == code][:, :3] == (q.red(), q.green(), q.blue())).all()
        assert "yield" in window.die_summary.text()

    log_text = "\n".join(window.log_pane.lines())
    assert "die_03_00 complete (1/2)" in log_text and "die_04_01 complete (2/2)" in log_text
    qtbot.waitUntil(lambda: bool(polls_after_sweep), timeout=10_000)
    assert polls_after_sweep[-1].safe
    assert_station_safe(sim)


def test_abort_mid_die_leaves_station_safe_and_file_consistent(station_window, qtbot,
                                                               tmp_path):
    sim, window = station_window
    path = tmp_path / "aborted.h5"
    dies = ["die_02_00", "die_03_00"]
    window.run_control.output_edit.setText(str(path))
    window.run_control.picker.set_selected(dies)
    window.run_control.form.set_value("cycles", 4)  # a longer die: abort lands inside it
    events: list[dict] = []
    click(qtbot, window.run_control.start_button)
    qtbot.waitUntil(lambda: window.sweep is not None, timeout=10_000)
    window.sweep.die_event.connect(events.append)
    qtbot.waitUntil(lambda: sim.state.in_contact, timeout=30_000)
    clicked_s = time.monotonic()
    click(qtbot, window.run_control.abort_button)
    assert window.run_control.state() == RunState.ABORTING
    wait_idle(qtbot, window)
    print(f"abort click -> sweep ended in {time.monotonic() - clicked_s:.3f} s")

    assert window.run_control.state_label.text().startswith("Aborted")
    assert_station_safe(sim)
    aborted = [e["die"] for e in events if e["status"] == "aborted"]
    assert len(aborted) == 1
    with open_wafer(path) as reader:
        records = reader.dies
    assert records[aborted[0]].status.value == "failed"
    assert "aborted" in records[aborted[0]].failure_reason
    assert not any(r.status.value == "running" for r in records.values())
    assert window.wafer_map.die_color(aborted[0]) == QColor(STATUS_COLORS["failed"])

    assert window.run_control.resume_button.isEnabled()
    click(qtbot, window.run_control.resume_button)
    qtbot.waitUntil(lambda: window.sweep is not None, timeout=10_000)
    wait_idle(qtbot, window)
    with open_wafer(path) as reader:
        assert {n: r.status.value for n, r in reader.dies.items()} == dict.fromkeys(
            dies, "complete")
        assert reader.info.procedure["settings"]["cycles"] == 4
    assert not window.run_control.resume_button.isEnabled()
    assert_station_safe(sim)


def test_existing_output_is_not_overwritten(station_window, qtbot, tmp_path):
    _, window = station_window
    path = tmp_path / "exists.h5"
    path.write_bytes(b"keep me")
    window.run_control.output_edit.setText(str(path))
    window.run_control.picker.set_selected(["die_02_00"])
    click(qtbot, window.run_control.start_button)
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and "already exists" in boxes[0].text()
    assert window.sweep is None and window.run_control.state() == RunState.IDLE
    assert path.read_bytes() == b"keep me"


def test_live_view_follows_checkpoints_of_the_file(synthetic_wafer, qtbot):
    synthetic_wafer.complete("die_02_00", seed=1)
    window = MainWindow(None, synthetic_wafer.path)
    qtbot.addWidget(window)
    synthetic_wafer.running("die_04_00", seed=3, rows_done=5)
    qtbot.waitUntil(lambda: window.wafer_map.statuses()["die_04_00"] == "running", timeout=5000)
    assert window.wafer_map.die_color("die_04_00") == QColor(STATUS_COLORS["running"])
    click_die_on_map(qtbot, window, "die_04_00")

    def rows_shown() -> int:
        image = window.die_view.displayed_image("r_parallel")
        return 0 if image is None else int(np.isfinite(image).all(axis=1).sum())

    assert rows_shown() == 5
    assert "5 of 24 rows read after writing P, 5 after writing AP" in window.die_view.title.text()
    synthetic_wafer.running("die_04_00", seed=3, rows_done=17)
    qtbot.waitUntil(lambda: rows_shown() == 17, timeout=5000)
    synthetic_wafer.complete("die_04_00", seed=3)
    qtbot.waitUntil(lambda: window.wafer_map.statuses()["die_04_00"] == "complete", timeout=5000)
    assert rows_shown() == 24
    assert window.die_view.defect_legend.count_text(DefectCode.OK).split()[-1].isdigit()
    window.close()


def test_review_mode_is_read_only(synthetic_wafer, qtbot):
    synthetic_wafer.complete("die_03_00", seed=2)
    synthetic_wafer.fail("die_02_00", "gate leakage 2 mA: gross short")
    window = MainWindow(None, synthetic_wafer.path)
    qtbot.addWidget(window)
    assert "review (read-only)" in window.windowTitle()
    assert not window.run_control.start_button.isEnabled()
    assert not window.run_control.resume_button.isEnabled()
    assert "read-only" in window.instruments.connection_label.text()
    assert window.wafer_map.selected_die() == "die_03_00"  # first die with data
    click_die_on_map(qtbot, window, "die_02_00")
    assert "gross short" in window.die_summary.text()
    window.wafer_map.set_color_mode("yield")
    assert window.wafer_map.die_color("die_03_00") != QColor(STATUS_COLORS["complete"])
    window.close()


def test_a_bad_file_is_a_dialog_not_a_crash(synthetic_wafer, qtbot, tmp_path):
    window = MainWindow(None, synthetic_wafer.path)
    qtbot.addWidget(window)
    bad = tmp_path / "bad.h5"
    bad.write_text("not a wafer")
    assert not window.open_wafer(bad)
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and "not an HDF5 file" in boxes[0].text()
    assert window.watcher.path == synthetic_wafer.path
    window.close()


def test_a_station_that_does_not_answer_is_reported(sim_config, qtbot, tmp_path):
    _, config = sim_config
    dead = {role: replace(inst, resource="TCPIP::127.0.0.1::1::SOCKET", timeout_s=0.5)
            for role, inst in config.instruments.items()}
    window = MainWindow(replace(config, instruments=dead), None)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: "NOT CONNECTED" in window.instruments.connection_label.text(),
                    timeout=10_000)
    window.run_control.output_edit.setText(str(tmp_path / "never.h5"))
    window.run_control.picker.set_selected(["die_02_00"])
    click(qtbot, window.run_control.start_button)
    wait_idle(qtbot, window)
    assert window.run_control.state_label.text().startswith("Sweep failed")
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and boxes[-1].windowTitle() == "Sweep failed"
    assert not (tmp_path / "never.h5").exists()
    window.close()

"""Wafer map: status and metric colours, legend, selection by clicking a die."""

from __future__ import annotations

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor

from gui.style import NO_VALUE_COLOR, STATUS_COLORS
from gui.wafer_map import METRIC_BY_KEY, WaferMapWidget
from labctl.core.wafer_map import ALL_DIE_NAMES


@pytest.fixture
def wafer_map(qtbot):
    widget = WaferMapWidget()
    qtbot.addWidget(widget)
    widget.resize(420, 420)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_every_die_is_drawn_pending_by_default(wafer_map):
    assert set(wafer_map.statuses()) == set(ALL_DIE_NAMES)
    for name in ALL_DIE_NAMES:
        assert wafer_map.die_color(name) == QColor(STATUS_COLORS["pending"])


def test_status_colours_follow_the_statuses(wafer_map):
    statuses = {"die_02_00": "complete", "die_03_00": "failed", "die_04_00": "running"}
    wafer_map.set_statuses(statuses)
    for name, status in statuses.items():
        assert wafer_map.die_color(name) == QColor(STATUS_COLORS[status])
        assert status in wafer_map.die_tooltip(name)
    assert wafer_map.die_color("die_05_00") == QColor(STATUS_COLORS["pending"])
    assert wafer_map.status_legend.isVisibleTo(wafer_map)
    assert "complete: 1" in wafer_map.caption.text()


def test_metric_colours_span_the_colour_map_and_show_a_colour_bar(wafer_map):
    values = {"die_02_00": 0.95, "die_03_00": 0.99, "die_04_00": None}
    wafer_map.set_metric_values("yield", values)
    wafer_map.set_color_mode("yield")
    assert wafer_map.color_mode() == "yield"
    assert not wafer_map.status_legend.isVisibleTo(wafer_map)
    assert wafer_map.color_bar_widget.isVisibleTo(wafer_map)
    assert wafer_map.color_bar.levels() == pytest.approx((95.0, 99.0))
    low, high = wafer_map.die_color("die_02_00"), wafer_map.die_color("die_03_00")
    cmap = wafer_map.color_bar.colorMap()
    assert low == cmap.map(0.0, mode="qcolor")
    assert high == cmap.map(1.0, mode="qcolor")
    assert wafer_map.die_color("die_04_00") == QColor(NO_VALUE_COLOR)
    assert "95.0 %" in wafer_map.die_tooltip("die_02_00")
    assert "without a value" in wafer_map.caption.text()


def test_metric_note_and_back_to_status(wafer_map):
    wafer_map.set_metric_values("validation_error", {"die_02_00": 0.08}, note="statistics-aware")
    wafer_map.set_color_mode("validation_error")
    assert "statistics-aware" in wafer_map.caption.text()
    wafer_map.set_color_mode("status")
    assert wafer_map.die_color("die_02_00") == QColor(STATUS_COLORS["pending"])


def test_unknown_metric_or_die_is_refused(wafer_map):
    with pytest.raises(KeyError):
        wafer_map.set_color_mode("resistance")
    with pytest.raises(KeyError):
        wafer_map.set_metric_values("resistance", {})
    with pytest.raises(KeyError):
        wafer_map.select_die("die_00_00")  # not on the round wafer


def test_clicking_a_die_selects_it(wafer_map, qtbot):
    viewport = wafer_map.graphics.viewport()
    target = wafer_map.die_center_in_view("die_04_02").toPoint()
    with qtbot.waitSignal(wafer_map.dieSelected, timeout=2000) as signal:
        qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=target)
    assert signal.args == ["die_04_02"]
    assert wafer_map.selected_die() == "die_04_02"


def test_clicking_outside_the_dies_selects_nothing(wafer_map, qtbot):
    corner = wafer_map.die_center_in_view("die_02_00")
    corner.setX(corner.x() - 2.2 * (wafer_map.die_center_in_view("die_03_00").x() - corner.x()))
    qtbot.mouseClick(wafer_map.graphics.viewport(), Qt.MouseButton.LeftButton,
                     pos=corner.toPoint())
    assert wafer_map.selected_die() is None


def test_metric_definitions_convert_to_display_units():
    assert METRIC_BY_KEY["yield"].text(0.9876) == "98.8 %"
    assert METRIC_BY_KEY["defect_count"].text(93.0) == "93 cells"
    assert METRIC_BY_KEY["median_tmr"].text(None) == "no value"

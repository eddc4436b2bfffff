"""The wafer map: 36 dies at their prober map positions, coloured by status or by a metric.

Dies are drawn in map coordinates (column to the right, row downwards, as the prober counts
them), so the picture matches the prober's own wafer map. Clicking a die selects it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QFont, QPen
from PyQt6.QtWidgets import (
    QComboBox,
    QGraphicsEllipseItem,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from gui.style import (
    NO_VALUE_COLOR,
    SELECTED_OUTLINE_COLOR,
    STATUS_COLORS,
    configure_pyqtgraph,
    format_percent,
)
from labctl.core.wafer_map import WAFER_MAP, die_name, parse_die_name

STATUS_MODE = "status"
_DIE_SIZE = 0.9  # fraction of a map cell a die square fills


@dataclass(frozen=True)
class Metric:
    """A per-die number the map can be coloured by; ``scale`` converts stored to shown units."""

    key: str
    title: str
    unit: str
    scale: float
    colormap: str
    fixed_range: tuple[float, float] | None = None

    def shown(self, value: float) -> float:
        return value * self.scale

    def text(self, value: float | None) -> str:
        if value is None or not math.isfinite(value):
            return "no value"
        if self.unit == "%":
            return format_percent(value)
        return f"{self.shown(value):g} {self.unit}".strip()


METRICS: tuple[Metric, ...] = (
    Metric("yield", "Yield", "%", 100.0, "viridis"),
    Metric("defect_count", "Defective cells", "cells", 1.0, "inferno"),
    Metric("median_tmr", "Median TMR", "%", 100.0, "viridis"),
    Metric("validation_error", "Validation error", "%", 100.0, "plasma"),
)
METRIC_BY_KEY: dict[str, Metric] = {metric.key: metric for metric in METRICS}


class _DieItem(QGraphicsRectItem):
    """One die square; remembers its name for hit tests and tooltips."""

    def __init__(self, name: str, col: int, row: int) -> None:
        margin = (1.0 - _DIE_SIZE) / 2
        super().__init__(QRectF(col + margin, row + margin, _DIE_SIZE, _DIE_SIZE))
        self.name = name
        self.setPen(QPen(QColor("#606060"), 0))


class WaferMapWidget(QWidget):
    """Wafer map with a colour-mode chooser and a legend (status swatches or a colour bar)."""

    dieSelected = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()
        self._statuses: dict[str, str] = {name: "pending" for name in _all_names()}
        self._metric_values: dict[str, dict[str, float | None]] = {}
        self._metric_notes: dict[str, str] = {}
        self._mode = STATUS_MODE
        self._selected: str | None = None

        self.mode_combo = QComboBox()
        self.mode_combo.addItem("Status", STATUS_MODE)
        for metric in METRICS:
            self.mode_combo.addItem(metric.title, metric.key)
        self.mode_combo.currentIndexChanged.connect(self._mode_chosen)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumSize(260, 200)
        self.view_box = pg.ViewBox(lockAspect=True, enableMouse=False, enableMenu=False)
        self.view_box.invertY(True)
        self.graphics.addItem(self.view_box, row=0, col=0)
        self.color_bar = pg.ColorBarItem(values=(0, 1), colorMap="viridis", interactive=False,
                                         colorMapMenu=False, width=12, orientation="horizontal",
                                         label="value")
        self.color_bar_widget = pg.GraphicsLayoutWidget()
        self.color_bar_widget.setFixedHeight(70)
        self.color_bar_widget.addItem(self.color_bar)
        self.color_bar_widget.hide()
        self.graphics.scene().sigMouseClicked.connect(self._scene_clicked)

        self._items: dict[str, _DieItem] = {}
        self._labels: dict[str, pg.TextItem] = {}
        self._draw_wafer()

        self.status_legend = _StatusLegend()
        self.caption = QLabel()
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)

        chooser = QHBoxLayout()
        chooser.addWidget(QLabel("Colour by"))
        chooser.addWidget(self.mode_combo, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(chooser)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.color_bar_widget)
        layout.addWidget(self.status_legend)
        layout.addWidget(self.caption)
        self._refresh()

    # ---- public API -------------------------------------------------------------------------

    def set_statuses(self, statuses: Mapping[str, str]) -> None:
        """Die name -> pending | running | complete | failed (unknown dies stay pending)."""
        self._statuses = {name: statuses.get(name, "pending") for name in _all_names()}
        self._refresh()

    def statuses(self) -> dict[str, str]:
        return dict(self._statuses)

    def set_metric_values(self, key: str, values: Mapping[str, float | None],
                          note: str = "") -> None:
        """Per-die values of one metric in stored units (fractions for yield, TMR, error);
        ``note`` says where they come from (shown under the map)."""
        if key not in METRIC_BY_KEY:
            raise KeyError(f"unknown wafer-map metric {key!r}")
        self._metric_values[key] = dict(values)
        self._metric_notes[key] = note
        if self._mode == key:
            self._refresh()

    def set_color_mode(self, key: str) -> None:
        """Colour by ``"status"`` or by one of :data:`METRICS` (its key)."""
        index = self.mode_combo.findData(key)
        if index < 0:
            raise KeyError(f"unknown wafer-map colour mode {key!r}")
        self.mode_combo.setCurrentIndex(index)

    def color_mode(self) -> str:
        return self._mode

    def select_die(self, name: str | None) -> None:
        """Highlight ``name`` (or nothing) and tell listeners if the selection changed."""
        if name is not None and name not in self._items:
            raise KeyError(f"{name} is not on the wafer map")
        changed = name != self._selected
        self._selected = name
        self._refresh_outlines()
        if changed and name is not None:
            self.dieSelected.emit(name)

    def selected_die(self) -> str | None:
        return self._selected

    def die_color(self, name: str) -> QColor:
        """The fill colour currently drawn for ``name``."""
        return self._items[name].brush().color()

    def die_tooltip(self, name: str) -> str:
        return self._items[name].toolTip()

    def die_center_in_view(self, name: str) -> QPointF:
        """Centre of a die in the graphics view's widget coordinates (for clicks in tests)."""
        col, row = parse_die_name(name)
        scene = self.view_box.mapViewToScene(QPointF(col + 0.5, row + 0.5))
        return QPointF(self.graphics.mapFromScene(scene))

    # ---- drawing ----------------------------------------------------------------------------

    def _draw_wafer(self) -> None:
        cols = [c for c, _ in WAFER_MAP]
        rows = [r for _, r in WAFER_MAP]
        cx = (min(cols) + max(cols) + 1) / 2
        cy = (min(rows) + max(rows) + 1) / 2
        radius = math.hypot(max(cols) + 1 - cx, max(rows) + 1 - cy) * 0.93
        outline = QGraphicsEllipseItem(cx - radius, cy - radius, 2 * radius, 2 * radius)
        outline.setPen(QPen(QColor("#9a9a9a"), 0))
        outline.setBrush(QBrush(QColor("#fafafa")))
        self.view_box.addItem(outline)
        font = QFont()
        font.setPointSize(7)
        for col, row in WAFER_MAP:
            name = die_name(col, row)
            item = _DieItem(name, col, row)
            self.view_box.addItem(item)
            label = pg.TextItem(f"{col},{row}", color="#303030", anchor=(0.5, 0.5))
            label.setFont(font)
            label.setZValue(3)
            label.setPos(col + 0.5, row + 0.5)
            self.view_box.addItem(label)
            self._items[name] = item
            self._labels[name] = label
        pad = 0.15
        self.view_box.setRange(
            xRange=(cx - radius - pad, cx + radius + pad),
            yRange=(cy - radius - pad, cy + radius + pad),
            padding=0,
        )

    def _mode_chosen(self, index: int) -> None:
        self._mode = str(self.mode_combo.itemData(index))
        self._refresh()

    def _refresh(self) -> None:
        if self._mode == STATUS_MODE:
            self._paint_statuses()
        else:
            self._paint_metric(METRIC_BY_KEY[self._mode])
        self._refresh_outlines()

    def _paint_statuses(self) -> None:
        self.color_bar_widget.hide()
        self.status_legend.show()
        for name, item in self._items.items():
            status = self._statuses[name]
            item.setBrush(QBrush(QColor(STATUS_COLORS.get(status, NO_VALUE_COLOR))))
            item.setToolTip(f"{name}\nstatus: {status}")
            self._labels[name].setColor(QColor("#ffffff" if status in ("complete", "failed")
                                               else "#303030"))
        counts = {s: list(self._statuses.values()).count(s) for s in STATUS_COLORS}
        self.caption.setText("   ".join(f"{s}: {n}" for s, n in counts.items()))

    def _paint_metric(self, metric: Metric) -> None:
        self.status_legend.hide()
        values = self._metric_values.get(metric.key, {})
        shown = {
            name: metric.shown(v) for name, v in values.items()
            if v is not None and math.isfinite(v) and name in self._items
        }
        low, high = metric.fixed_range or _auto_range(list(shown.values()))
        cmap = pg.colormap.get(metric.colormap)
        self.color_bar.setColorMap(cmap)
        self.color_bar.setLevels((low, high))
        self.color_bar.getAxis("bottom").setLabel(f"{metric.title} ({metric.unit})")
        self.color_bar_widget.show()
        for name, item in self._items.items():
            value = values.get(name)
            if name in shown:
                fraction = (shown[name] - low) / (high - low)
                color = cmap.map(float(np.clip(fraction, 0.0, 1.0)), mode="qcolor")
                dark = fraction < 0.55
            else:
                color, dark = QColor(NO_VALUE_COLOR), False
            item.setBrush(QBrush(color))
            item.setToolTip(f"{name}\n{metric.title}: {metric.text(value)}"
                            f"\nstatus: {self._statuses[name]}")
            self._labels[name].setColor(QColor("#ffffff" if dark else "#303030"))
        missing = len(self._items) - len(shown)
        note = self._metric_notes.get(metric.key, "")
        self.caption.setText(f"{metric.title}{f' ({note})' if note else ''}: {len(shown)} dies"
                             + (f", {missing} without a value (light grey)" if missing else ""))

    def _refresh_outlines(self) -> None:
        for name, item in self._items.items():
            if name == self._selected:
                item.setPen(QPen(QColor(SELECTED_OUTLINE_COLOR), 0.1))
                item.setZValue(2)
            else:
                item.setPen(QPen(QColor("#606060"), 0))
                item.setZValue(1)

    def _scene_clicked(self, event: object) -> None:
        scene_pos = event.scenePos()  # type: ignore[attr-defined]
        if not self.view_box.sceneBoundingRect().contains(scene_pos):
            return
        point = self.view_box.mapSceneToView(scene_pos)
        col, row = math.floor(point.x()), math.floor(point.y())
        if (col, row) in WAFER_MAP:
            self.select_die(die_name(col, row))


class _StatusLegend(QWidget):
    """Colour swatches for the die statuses."""

    def __init__(self) -> None:
        super().__init__()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addStretch(1)
        for status, color in STATUS_COLORS.items():
            swatch = QLabel()
            swatch.setFixedSize(14, 14)
            swatch.setStyleSheet(f"background:{color}; border:1px solid #606060;")
            layout.addWidget(swatch)
            layout.addWidget(QLabel(status))
            layout.addSpacing(8)
        layout.addStretch(1)


def _all_names() -> list[str]:
    return [die_name(c, r) for c, r in WAFER_MAP]


def _auto_range(values: list[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    if high - low < 1e-12:
        pad = abs(low) * 0.05 or 1.0
        return low - pad, high + pad
    return low, high

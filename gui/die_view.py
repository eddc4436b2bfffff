"""The die view: per-tile heatmaps of R_P, R_AP, TMR and defects, and R_P / R_AP histograms.

Fed with the store's :class:`~labctl.store.TileData` (numpy arrays). A die still being measured
has NaN in rows not yet read and no defect map; those rows stay blank, so the die visibly fills
in row by row when the live view feeds it newer checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtGui import QColor, QPen
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from gui.style import (
    DEFECT_COLORS,
    DEFECT_LABELS,
    R_ANTIPARALLEL_COLOR,
    R_PARALLEL_COLOR,
    THRESHOLD_COLOR,
    configure_pyqtgraph,
    format_percent,
    format_si,
)
from labctl.analysis.classify import TileThresholds
from labctl.core.defects import DefectCode
from labctl.store import TileData

FloatArray = NDArray[np.float64]

_HIST_BINS = 60
#: Where each threshold's label sits (height fraction, text anchor): short left of its line,
#: the P | AP boundary right of it, open left of it and lower, so neighbours do not overlap.
_LABEL_PLACES: tuple[tuple[float, tuple[float, float]], ...] = (
    (0.95, (1.0, 0.0)), (0.95, (0.0, 0.0)), (0.70, (1.0, 0.0)),
)
_NOT_MEASURED_RGBA = (0, 0, 0, 0)


@dataclass(frozen=True)
class _Quantity:
    """A heatmap: which TileData field, how it is shown (scale to display unit), its colours."""

    key: str
    title: str
    unit_label: str
    scale: float
    colormap: str


QUANTITIES: tuple[_Quantity, ...] = (
    _Quantity("r_parallel", "R_P", "kΩ", 1e-3, "viridis"),
    _Quantity("r_antiparallel", "R_AP", "kΩ", 1e-3, "viridis"),
    _Quantity("tmr", "TMR", "%", 100.0, "cividis"),
)


@dataclass(frozen=True)
class ThresholdLine:
    """A classification threshold drawn on the histograms (resistance in ohm)."""

    label: str
    r_ohm: float


def threshold_lines(thresholds: TileThresholds) -> list[ThresholdLine]:
    """Where the classifier separates shorts, the P and AP populations (non-switching cells), and
    opens, in ohm, from the tile's stored thresholds."""
    mp, sp = thresholds.median_log10_r_parallel, thresholds.sigma_log10_r_parallel
    ma, sa = thresholds.median_log10_r_antiparallel, thresholds.sigma_log10_r_antiparallel
    # A stuck cell is called P or AP by which population it is nearer to, in sigmas.
    boundary = (mp * sa + ma * sp) / (sp + sa) if sp + sa > 0 else (mp + ma) / 2
    return [
        ThresholdLine("short", thresholds.short_max_ohm),
        ThresholdLine("P | AP", 10.0**boundary),
        ThresholdLine("open", thresholds.open_min_ohm),
    ]


def defect_rgba(defects: NDArray[np.uint8] | None, shape: tuple[int, int],
                rows_done: int) -> NDArray[np.uint8]:
    """RGBA image of a defect map; transparent where not classified yet."""
    image = np.zeros((*shape, 4), dtype=np.uint8)
    image[...] = _NOT_MEASURED_RGBA
    if defects is None:
        return image
    for code, color in DEFECT_COLORS.items():
        q = QColor(color)
        image[:rows_done][defects[:rows_done] == code] = (q.red(), q.green(), q.blue(), 255)
    return image


def robust_levels(values: FloatArray) -> tuple[float, float]:
    """1st-99th percentile of the finite values (outliers such as opens saturate the colours)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(finite, [1.0, 99.0]))
    if high <= low:
        pad = abs(low) * 0.05 or 1.0
        return low - pad, high + pad
    return low, high


def log_histogram(values_ohm: FloatArray, lines: Sequence[ThresholdLine],
                  defects: NDArray[np.uint8] | None = None,
                  bins: int = _HIST_BINS) -> tuple[FloatArray, FloatArray, int, int]:
    """Histogram of log10(R) over a range that holds the cells and the thresholds.

    Returns (log10 bin edges, counts, cells below the range, cells above it). Open cells
    (1e9 ohm and more) are counted above the range rather than stretching the axis over many
    decades: the range ends at the 99.5th percentile of the cells not classified open (all cells
    if the tile is not classified yet), or at the open threshold if that is higher.
    """
    finite = np.isfinite(values_ohm) & (values_ohm > 0)
    if not finite.any():
        return np.linspace(3.0, 4.0, bins + 1), np.zeros(bins), 0, 0
    logs = np.log10(values_ohm[finite])
    bulk = logs
    if defects is not None:
        not_open = (defects != DefectCode.OPEN)[finite]
        if not_open.any():
            bulk = logs[not_open]
    low, high = (float(v) for v in np.percentile(bulk, [0.5, 99.5]))
    low = min(low, float(np.percentile(logs, 0.5)))
    for line in lines:
        if line.r_ohm > 0 and math.isfinite(line.r_ohm):
            low, high = min(low, math.log10(line.r_ohm)), max(high, math.log10(line.r_ohm))
    pad = max(0.05 * (high - low), 0.02)
    low, high = low - pad, high + pad
    counts, edges = np.histogram(logs, bins=bins, range=(low, high))
    return (edges.astype(np.float64), counts.astype(np.float64),
            int(np.sum(logs < low)), int(np.sum(logs > high)))


class LogOhmAxis(pg.AxisItem):
    """Bottom axis of a log10(R) plot, ticked at 1-2-5 steps and labelled ``2 kΩ``."""

    def __init__(self) -> None:
        super().__init__("bottom")

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[
        tuple[float, list[float]]
    ]:
        if not (math.isfinite(minVal) and math.isfinite(maxVal)) or maxVal <= minVal:
            return []
        most = max(3, int(size / 70))
        decades = range(math.floor(minVal) - 1, math.ceil(maxVal) + 1)
        for mantissas in ((1, 2, 3, 5, 7), (1, 2, 5), (1, 3), (1,)):
            values = [math.log10(m) + d for d in decades for m in mantissas]
            inside = [v for v in values if minVal <= v <= maxVal]
            if 2 <= len(inside) <= most:
                return [(1.0, inside)]
            if len(inside) > most:
                continue
            return [(1.0, _linear_ticks(10.0**minVal, 10.0**maxVal, most))]
        return [(1.0, [float(d) for d in decades if minVal <= d <= maxVal])]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [format_si(10.0**v, "Ω", 3) for v in values]


def _linear_ticks(low: float, high: float, most: int) -> list[float]:
    """log10 of round values (1, 2 or 5 x 10^k steps) between low and high, for a narrow range."""
    raw = (high - low) / max(most - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    count = int((high - first) / step) + 1
    return [math.log10(first + i * step) for i in range(count) if first + i * step > 0]


class DieView(QWidget):
    """Heatmaps (2 x 2) of the chosen tile above the R_P and R_AP histograms."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()
        self._die: str | None = None
        self._status = ""
        self._tiles: list[TileData] = []
        self._tile_shape_shown: tuple[int, int] | None = None

        self.title = QLabel("No die selected")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.tile_combo = QComboBox()
        self.tile_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.tile_combo.currentIndexChanged.connect(self._tile_chosen)
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(QLabel("Tile"))
        header.addWidget(self.tile_combo)

        self.maps = pg.GraphicsLayoutWidget()
        self._plots: dict[str, pg.PlotItem] = {}
        self._images: dict[str, pg.ImageItem] = {}
        self._bars: dict[str, pg.ColorBarItem] = {}
        for i, quantity in enumerate(QUANTITIES):
            plot = self._map_plot(f"{quantity.title} ({quantity.unit_label})", i // 2, i % 2)
            image = pg.ImageItem(axisOrder="row-major")
            plot.addItem(image)
            bar = pg.ColorBarItem(colorMap=quantity.colormap, interactive=False,
                                  colorMapMenu=False, width=12)
            bar.setImageItem(image, insert_in=plot)
            self._images[quantity.key] = image
            self._bars[quantity.key] = bar
        plot = self._map_plot("Defects", 1, 1)
        image = pg.ImageItem(axisOrder="row-major")
        plot.addItem(image)
        self._images["defects"] = image
        self.defects_note = pg.TextItem("classified when the tile is complete",
                                        color="#606060", anchor=(0.5, 0.5))
        plot.addItem(self.defects_note)
        self.defects_note.hide()
        self.maps.scene().sigMouseMoved.connect(self._mouse_moved)

        self.defect_legend = _DefectLegend()
        self.hover_label = QLabel("Hover over a map to read a cell")
        self.hover_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.histograms = pg.GraphicsLayoutWidget()
        self._hist_plots: dict[str, pg.PlotItem] = {}
        for i, (key, title, color) in enumerate((
            ("r_parallel", "R_P", R_PARALLEL_COLOR),
            ("r_antiparallel", "R_AP", R_ANTIPARALLEL_COLOR),
        )):
            hist = self.histograms.addPlot(row=0, col=i, axisItems={"bottom": LogOhmAxis()})
            hist.setTitle(f"{title} histogram", size="10pt")
            hist.setLabel("bottom", f"{title} (log scale)")
            hist.setLabel("left", "cells")
            hist.setMouseEnabled(x=False, y=False)
            hist.hideButtons()
            hist.setMenuEnabled(False)
            hist.setProperty("bar_color", color)
            self._hist_plots[key] = hist

        maps_box = QWidget()
        maps_layout = QVBoxLayout(maps_box)
        maps_layout.setContentsMargins(0, 0, 0, 0)
        maps_layout.addWidget(self.maps, 1)
        maps_layout.addWidget(self.defect_legend)
        maps_layout.addWidget(self.hover_label)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(maps_box)
        splitter.addWidget(self.histograms)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(splitter, 1)

    # ---- public API -------------------------------------------------------------------------

    def show_die(self, name: str, status: str, tiles: Sequence[TileData], note: str = "") -> None:
        """Show `tiles` of die `name`; keeps the chosen tile when the same die is refreshed."""
        same_die = name == self._die
        if not same_die:
            self.hover_label.setText("Hover over a map to read a cell")
        self._die, self._status, self._tiles = name, status, list(tiles)
        self.tile_combo.blockSignals(True)
        keep = self.tile_combo.currentIndex() if same_die else 0
        self.tile_combo.clear()
        for tile in self._tiles:
            rows, cols = tile.shape
            self.tile_combo.addItem(f"{tile.index} ({rows} × {cols})", tile.index)
        self.tile_combo.setCurrentIndex(min(max(keep, 0), len(self._tiles) - 1))
        self.tile_combo.blockSignals(False)
        text = f"{name} · {status}"
        if note:
            text += f" · {note}"
        self.title.setText(text)
        self._draw()

    def clear(self, message: str = "No die selected") -> None:
        self._die, self._status, self._tiles = None, "", []
        self.tile_combo.clear()
        self.title.setText(message)
        self._draw()

    def die(self) -> str | None:
        return self._die

    def current_tile(self) -> TileData | None:
        index = self.tile_combo.currentIndex()
        return self._tiles[index] if 0 <= index < len(self._tiles) else None

    def set_tile(self, index: int) -> None:
        position = self.tile_combo.findData(index)
        if position < 0:
            raise KeyError(f"no tile {index} shown")
        self.tile_combo.setCurrentIndex(position)

    def displayed_image(self, key: str) -> NDArray[np.generic] | None:
        """The array a heatmap shows, in display units (kΩ, %, RGBA for defects)."""
        image = self._images[key].image
        return None if image is None else np.asarray(image)

    def histogram_counts(self, key: str) -> float:
        """Total cells drawn in a histogram (for checks)."""
        total = 0.0
        for item in self._hist_plots[key].listDataItems():
            _, y = item.getData()
            if y is not None:
                total += float(np.sum(y))
        return total

    def threshold_positions_ohm(self, key: str) -> list[float]:
        plot = self._hist_plots[key]
        return [10.0 ** float(item.value()) for item in plot.items
                if isinstance(item, pg.InfiniteLine)]

    def cell_text(self, row: int, col: int) -> str:
        """What hovering over (row, col) of the current tile shows."""
        tile = self.current_tile()
        if tile is None:
            return ""
        rows, cols = tile.shape
        if not (0 <= row < rows and 0 <= col < cols):
            return ""
        head = f"tile {tile.index}, row {row}, column {col}:"
        if row >= tile.measured_rows or not math.isfinite(tile.r_parallel_ohm[row, col]):
            return f"{head} not measured yet"
        parts = [
            f"R_P = {format_si(float(tile.r_parallel_ohm[row, col]), 'Ω')}",
            f"R_AP = {format_si(float(tile.r_antiparallel_ohm[row, col]), 'Ω')}",
            f"TMR = {format_percent(float(tile.tmr[row, col]))}",
        ]
        if tile.defects is not None:
            parts.append(DEFECT_LABELS.get(DefectCode(int(tile.defects[row, col])), "?"))
        return f"{head} " + " · ".join(parts)

    def show_cell(self, row: int, col: int) -> None:
        """Show a cell's values in the hover line, as hovering over it does."""
        text = self.cell_text(row, col)
        if text:
            self.hover_label.setText(text)

    # ---- drawing ----------------------------------------------------------------------------

    def _map_plot(self, title: str, row: int, col: int) -> pg.PlotItem:
        plot = self.maps.addPlot(row=row, col=col)
        plot.setTitle(title, size="10pt")
        plot.setLabel("bottom", "column")
        plot.setLabel("left", "row")
        plot.invertY(True)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        self._plots[title.split(" ")[0]] = plot
        return plot

    def _tile_chosen(self, _index: int) -> None:
        self._draw()

    def _draw(self) -> None:
        tile = self.current_tile()
        if tile is None:
            for image in self._images.values():
                image.clear()
            for hist in self._hist_plots.values():
                hist.clear()
            self.defect_legend.set_counts(None)
            self.defects_note.hide()
            self._tile_shape_shown = None
            return
        for quantity in QUANTITIES:
            values = getattr(tile, f"{quantity.key}_ohm" if quantity.key != "tmr" else "tmr")
            shown = np.asarray(values, dtype=np.float64) * quantity.scale
            image = self._images[quantity.key]
            low, high = robust_levels(_ok_cells(shown, tile))
            image.setImage(shown, autoLevels=False, levels=(low, high))
            self._bars[quantity.key].setLevels((low, high))
        rows_done = tile.measured_rows
        self._images["defects"].setImage(defect_rgba(tile.defects, tile.shape, rows_done),
                                         autoLevels=False)
        self.defect_legend.set_counts(tile.defects[:rows_done] if tile.defects is not None
                                      else None)
        self.defects_note.setVisible(tile.defects is None)
        self.defects_note.setPos(tile.shape[1] / 2, tile.shape[0] / 2)
        if tile.shape != self._tile_shape_shown:
            for plot in self._plots.values():
                plot.autoRange(padding=0)
            self._tile_shape_shown = tile.shape
        self._draw_histograms(tile)

    def _draw_histograms(self, tile: TileData) -> None:
        lines = threshold_lines(tile.thresholds) if tile.thresholds is not None else []
        for key, hist in self._hist_plots.items():
            hist.clear()
            values = np.asarray(getattr(tile, f"{key}_ohm"), dtype=np.float64)
            edges, counts, below, above = log_histogram(values, lines, tile.defects)
            color = QColor(str(hist.property("bar_color")))
            fill = QColor(color)
            fill.setAlpha(140)
            hist.addItem(pg.PlotDataItem(edges, counts, stepMode="center", fillLevel=0,
                                         brush=fill, pen=pg.mkPen(color, width=1)))
            for line, (position, side) in zip(lines, _LABEL_PLACES, strict=False):
                pen = QPen(QColor(THRESHOLD_COLOR), 0)
                pen.setStyle(Qt.PenStyle.DashLine)
                pen.setCosmetic(True)
                marker = pg.InfiniteLine(
                    pos=math.log10(line.r_ohm), angle=90, pen=pen,
                    label=f"{line.label} {format_si(line.r_ohm, 'Ω', 2)}",
                    labelOpts={"position": position, "color": THRESHOLD_COLOR,
                               "fill": (255, 255, 255, 200), "anchors": [side, side]},
                )
                hist.addItem(marker)
            hist.setXRange(float(edges[0]), float(edges[-1]), padding=0)
            hist.setYRange(0, max(float(counts.max()), 1.0) * 1.08, padding=0)
            hidden = []
            if below:
                hidden.append(f"{below} below")
            if above:
                hidden.append(f"{above} above")
            name = "R_P" if key == "r_parallel" else "R_AP"
            note = f" ({', '.join(hidden)} range)" if hidden else ""
            hist.setTitle(f"{name} histogram{note}", size="10pt")

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        for plot in self._plots.values():
            if plot.vb.sceneBoundingRect().contains(scene_pos):
                point = plot.vb.mapSceneToView(scene_pos)
                self.show_cell(math.floor(point.y()), math.floor(point.x()))
                return


def _ok_cells(values: FloatArray, tile: TileData) -> FloatArray:
    """Values of healthy cells when the defect map is known (so levels ignore defects)."""
    if tile.defects is None:
        return values
    ok = tile.defects == DefectCode.OK
    return values[ok] if np.any(ok) else values


class _DefectLegend(QWidget):
    """Categorical legend of the defect map: a swatch and a cell count per defect type."""

    def __init__(self) -> None:
        super().__init__()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(QLabel("Defects:"))
        self._counts: dict[DefectCode, QLabel] = {}
        for code, color in DEFECT_COLORS.items():
            swatch = QLabel()
            swatch.setFixedSize(14, 14)
            swatch.setStyleSheet(f"background:{color}; border:1px solid #606060;")
            label = QLabel(DEFECT_LABELS[code])
            layout.addWidget(swatch)
            layout.addWidget(label)
            layout.addSpacing(10)
            self._counts[code] = label
        layout.addStretch(1)

    def set_counts(self, defects: NDArray[np.uint8] | None) -> None:
        for code, label in self._counts.items():
            if defects is None:
                label.setText(DEFECT_LABELS[code])
            else:
                label.setText(f"{DEFECT_LABELS[code]} {int(np.sum(defects == code))}")

    def count_text(self, code: DefectCode) -> str:
        return self._counts[code].text()

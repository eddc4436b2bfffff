"""Training and validation: start a training mode or a reproduce run, and review its results.

Runs go to ``labctl train`` / ``labctl reproduce`` child processes (their output goes to the log
pane). Results come from the run's folder (``results.json`` of a reproduce run, ``summary.json``
of a training run): per-die error of each mode as grouped bars with the software baseline
drawn, and a table of per-die and mean ± std.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.dialogs import show_exception
from gui.process_runner import ProcessRunner, labctl_command
from gui.style import configure_pyqtgraph, format_percent
from gui.training_results import TrainingResults, load_results
from labctl.core.errors import LabctlError
from labctl.core.wafer_map import parse_die_name

log = logging.getLogger("gui.training")

TRAINING_MODES: tuple[str, ...] = (
    "all", "ideal", "unaware", "statistics-aware", "hardware-aware",
)
MODE_COLORS: dict[str, str] = {
    "unaware": "#d62728",
    "hardware-aware": "#2ca02c",
    "statistics-aware": "#1f77b4",
}
_OTHER_COLORS = ("#9467bd", "#8c564b", "#e377c2")


def training_args(mode: str, wafer: Path, out_dir: Path, die: str | None, epochs: int | None,
                  seed: int, quick: bool = False) -> list[str]:
    """``labctl train`` arguments; `die` restricts hardware-aware training to one die."""
    if mode not in TRAINING_MODES:
        raise LabctlError(f"unknown training mode {mode!r}")
    args = ["train", "--mode", mode, "--wafer", str(wafer), "--out", str(out_dir),
            "--seed", str(seed)]
    if die is not None and mode == "hardware-aware":
        args += ["--die", die]
    if epochs is not None:
        args += ["--epochs", str(epochs)]
    if quick:
        args.append("--quick")
    return args


def reproduce_args(station_args: Sequence[str], out_dir: Path, quick: bool) -> list[str]:
    """``labctl reproduce`` arguments; ``station_args`` choose the station (from the CLI)."""
    if not station_args:
        raise LabctlError("a reproduce run needs a station; start the GUI with --sim or --station")
    return ["reproduce", *station_args, "--out", str(out_dir), *(["--quick"] if quick else [])]


class TrainingPanel(QWidget):
    """Start runs; show the per-die error chart and the results table."""

    output_line = pyqtSignal(str)
    results_loaded = pyqtSignal(object)  # TrainingResults

    def __init__(self, station_args: Sequence[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()
        self._station_args = list(station_args)
        self._wafer: Path | None = None
        self._die: str | None = None
        self._pending_results: Path | None = None
        self.results: TrainingResults | None = None
        self.runner = ProcessRunner(self)
        self.runner.line.connect(self.output_line.emit)
        self.runner.finished.connect(self._run_finished)

        self.mode_combo = QComboBox()
        self.mode_combo.addItems(TRAINING_MODES)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(0, 1000)
        self.epochs_spin.setSpecialValueText("default")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.out_edit = QLineEdit(str(Path.cwd() / "training"))
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.clicked.connect(self._browse_out)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(browse)
        self.one_die_check = QCheckBox("hardware-aware: only the die selected on the map")
        self.train_button = QPushButton("Start training")
        self.train_button.clicked.connect(self.start_training)
        self.quick_check = QCheckBox("quick preset")
        self.reproduce_button = QPushButton("Start reproduce run")
        self.reproduce_button.clicked.connect(self.start_reproduce)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.runner.stop)
        self.open_button = QPushButton("Open results…")
        self.open_button.setToolTip("results.json of a reproduce run or summary.json of a "
                                    "training folder")
        self.open_button.clicked.connect(self._open_results_dialog)

        run_box = QGroupBox("Runs")
        form = QFormLayout(run_box)
        form.addRow("Mode", self.mode_combo)
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("Seed", self.seed_spin)
        form.addRow("Output folder", out_row)
        form.addRow(self.one_die_check)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.reproduce_button)
        buttons.addWidget(self.quick_check)
        form.addRow(buttons)
        buttons2 = QHBoxLayout()
        buttons2.addWidget(self.stop_button)
        buttons2.addStretch(1)
        buttons2.addWidget(self.open_button)
        form.addRow(buttons2)

        self.summary_label = QLabel("No results loaded")
        self.summary_label.setWordWrap(True)
        self.chart = pg.PlotWidget()
        self.chart.setMinimumHeight(220)
        self.chart.setLabel("left", "test error (%)")
        self.chart.setLabel("bottom", "die (column,row), wafer-map order")
        self.chart.setMenuEnabled(False)
        self.chart.setMouseEnabled(x=False, y=False)
        self.chart.hideButtons()
        self.legend = self.chart.addLegend(offset=(10, 5), labelTextSize="9pt",
                                           brush=(255, 255, 255, 220))
        self._bars: dict[str, pg.BarGraphItem] = {}
        self.table = QTableWidget()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setMinimumHeight(160)

        layout = QVBoxLayout(self)
        layout.addWidget(run_box)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.chart, 2)
        layout.addWidget(self.table, 1)
        self._update_buttons()

    # ---- public API -------------------------------------------------------------------------

    def set_wafer(self, path: Path | None) -> None:
        self._wafer = path
        self._update_buttons()

    def set_die(self, name: str | None) -> None:
        self._die = name
        self.one_die_check.setText(f"hardware-aware: only {name}" if name
                                   else "hardware-aware: only the die selected on the map")

    def start_training(self) -> None:
        try:
            if self._wafer is None:
                raise LabctlError("open or measure a wafer file first: training reads its maps")
            epochs = self.epochs_spin.value() or None
            die = None
            if self.one_die_check.isChecked():
                if self._die is None:
                    raise LabctlError("select a die on the wafer map first")
                die = self._die
            out_dir = Path(self.out_edit.text())
            args = training_args(self.mode_combo.currentText(), self._wafer, out_dir, die,
                                 epochs, self.seed_spin.value(), self.quick_check.isChecked())
        except LabctlError as exc:
            show_exception(self, exc)
            return
        self._pending_results = out_dir
        self.runner.start(labctl_command(args), "training")
        self._update_buttons()

    def start_reproduce(self) -> None:
        out_dir = Path(self.out_edit.text())
        try:
            args = reproduce_args(self._station_args, out_dir, self.quick_check.isChecked())
        except LabctlError as exc:
            show_exception(self, exc)
            return
        self._pending_results = out_dir
        self.runner.start(labctl_command(args), "reproduce")
        self._update_buttons()

    def load(self, path: str | Path) -> TrainingResults | None:
        """Show a results.json (or a folder holding one); errors become a dialog."""
        try:
            results = load_results(path)
        except LabctlError as exc:
            show_exception(self, exc, "cannot show training results")
            return None
        self.results = results
        self._draw(results)
        self.results_loaded.emit(results)
        return results

    def bar_heights(self, mode: str) -> list[float]:
        """Heights (percent) of a mode's bars, in chart order (for checks)."""
        bars = self._bars.get(mode)
        return [] if bars is None else [float(h) for h in bars.opts["height"]]

    def baseline_percent(self) -> float | None:
        for item in self.chart.getPlotItem().items:
            if isinstance(item, pg.InfiniteLine):
                return float(item.value())
        return None

    # ---- internals --------------------------------------------------------------------------

    def _update_buttons(self) -> None:
        running = self.runner.running()
        self.train_button.setEnabled(not running and self._wafer is not None)
        self.reproduce_button.setEnabled(not running and bool(self._station_args))
        self.stop_button.setEnabled(running)

    def _run_finished(self, code: int) -> None:
        self._update_buttons()
        if code != 0:
            self.output_line.emit(f"run ended with exit status {code}")
            log.error("training run failed (exit status %d); see the log above", code)
            return
        self.output_line.emit("run finished")
        if self._pending_results is not None:
            self.load(self._pending_results)

    def _browse_out(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.out_edit.text())
        if folder:
            self.out_edit.setText(folder)

    def _open_results_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open training results", "",
                                              "results.json / summary.json (*.json)")
        if path:
            self.load(path)

    def _draw(self, results: TrainingResults) -> None:
        plot = self.chart.getPlotItem()
        plot.clear()
        self.legend.clear()
        self._bars = {}
        dies = results.dies()
        modes = results.mode_names()
        x = np.arange(len(dies), dtype=float)
        width = 0.8 / max(len(modes), 1)
        for i, mode in enumerate(modes):
            color = MODE_COLORS.get(mode, _OTHER_COLORS[i % len(_OTHER_COLORS)])
            per_die = results.modes[mode].per_die
            heights = [100.0 * per_die.get(d, np.nan) for d in dies]
            bars = pg.BarGraphItem(x=x + (i - (len(modes) - 1) / 2) * width, height=heights,
                                   width=width, brush=QColor(color), pen=pg.mkPen(None))
            plot.addItem(bars)
            self._bars[mode] = bars
            self.legend.addItem(bars, f"{mode} (mean {format_percent(results.modes[mode].mean)})")
        baseline = 100.0 * results.baseline_error
        line = pg.InfiniteLine(pos=baseline, angle=0, pen=pg.mkPen("#202020", width=1.5,
                                                                     style=Qt.PenStyle.DashLine),
                               label=f"software baseline {baseline:.2f} %",
                               labelOpts={"position": 0.02, "color": "#202020",
                                          "fill": (255, 255, 255, 220),
                                          "anchors": [(0, 1), (0, 1)]})
        plot.addItem(line)
        step = max(1, math.ceil(len(dies) / 9))  # labels every few dies, a tick at every die
        labelled = [(float(i), _short_die(d)) for i, d in enumerate(dies)][::step]
        plot.getAxis("bottom").setTicks([labelled, [(float(i), "") for i in range(len(dies))]])
        plot.setXRange(-0.6, len(dies) - 0.4, padding=0)
        errors = [e for m in modes for e in results.modes[m].per_die.values()]
        top = max([baseline] + [100.0 * e for e in errors])
        plot.setYRange(0, top * 1.45 + 0.1, padding=0)  # headroom for the legend
        gaps = ", ".join(f"{m} {100 * (results.modes[m].mean - results.baseline_error):+.2f} pt"
                         for m in modes)
        self.summary_label.setText(f"{results.path}: baseline {baseline:.2f} %; mean gap to "
                                   f"baseline: {gaps}")
        self._fill_table(results, dies, modes)

    def _fill_table(self, results: TrainingResults, dies: list[str], modes: list[str]) -> None:
        table = self.table
        table.clear()
        table.setColumnCount(len(modes))
        table.setHorizontalHeaderLabels([f"{m} (%)" for m in modes])
        labels = [*dies, "mean ± std", "gap to baseline"]
        table.setRowCount(len(labels))
        table.setVerticalHeaderLabels(labels)
        for col, mode in enumerate(modes):
            result = results.modes[mode]
            for row, die in enumerate(dies):
                error = result.per_die.get(die)
                table.setItem(row, col, _cell("—" if error is None else f"{100 * error:.2f}"))
            table.setItem(len(dies), col,
                          _cell(f"{100 * result.mean:.2f} ± {100 * result.std:.2f}", bold=True))
            table.setItem(len(dies) + 1, col,
                          _cell(f"{100 * (result.mean - results.baseline_error):+.2f} pt",
                                bold=True))
        table.resizeColumnsToContents()


def _short_die(name: str) -> str:
    try:
        col, row = parse_die_name(name)
    except ValueError:
        return name
    return f"{col},{row}"


def _cell(text: str, bold: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if bold:
        font = item.font()
        font.setBold(True)
        item.setFont(font)
    return item


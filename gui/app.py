"""The operator's main window: wafer map, die view, run control, instruments, training, log.

Sweeps are started, paused, aborted and resumed by the :class:`SweepController` (over the sweep
service); the window shows files and follows the die being measured.

What the window shows of a wafer always comes from the wafer file on disk (re-read when the
writer publishes a new version), so the live view during a sweep and the review of an old file
are the same code. The window is given a station configuration (or none: read-only review) by
the command line and never learns whether a simulator or a real bench answers.
"""

from __future__ import annotations

import contextlib
import html
import logging
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
from PyQt6 import sip
from PyQt6.QtCore import QSize, Qt, QTimer
from PyQt6.QtGui import QAction, QCloseEvent, QKeySequence
from PyQt6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMenuBar,
    QScrollArea,
    QSplitter,
    QStatusBar,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from gui.dialogs import install_excepthook, show_error, show_exception
from gui.die_view import DieView
from gui.file_reader import FileReader
from gui.instruments_panel import InstrumentsPanel
from gui.log_pane import LogPane
from gui.run_control import RunControlPanel
from gui.style import configure_pyqtgraph, format_percent, format_si
from gui.sweep_control import SweepController
from gui.sweep_worker import SweepWorker
from gui.training_panel import TrainingPanel
from gui.training_results import TrainingResults
from gui.wafer_data import FileUpdate, WaferFileWatcher, WaferSnapshot, read_update
from gui.wafer_map import WaferMapWidget
from labctl.core.errors import LabctlError
from labctl.core.wafer_map import ALL_DIE_NAMES
from labctl.services.station_source import StationSource
from labctl.services.sweep.plan import SweepPlan
from labctl.services.sweep.service import SweepService
from labctl.station.config import StationConfig
from labctl.station.deferred import STOP_SIGNALS
from labctl.store import TileData

log = logging.getLogger("gui")

#: How often the window looks for a newer published wafer file (a stat; reads only on change).
FILE_POLL_MS = 400
#: How long closing the window waits for a stopped child run to end (it makes the station safe
#: first: well under a second); a child still running after that is left to finish on its own.
CHILD_STOP_WAIT_MS = 60000
#: How often Python gets to run signal handlers while the event loop waits (ms).
SIGNAL_TICK_MS = 200
#: The window's preferred size (px); it opens smaller on a smaller screen (initial_size).
PREFERRED_SIZE = QSize(1680, 1000)
#: Share of the screen's free area the window may take when it has to shrink (its frame and
#: title bar need the rest).
SCREEN_SHARE = 0.95
#: Widths of the wafer map, die view and tabs columns, as shares of the window's width.
COLUMN_SHARES = (0.22, 0.52, 0.26)
_LOGGERS = ("labctl", "procedures", "drivers", "gui")


class MainWindow(QMainWindow):
    """The whole application window."""

    def __init__(self, station_config: StationConfig | None = None,
                 wafer_path: str | Path | None = None, station_args: Sequence[str] = (),
                 parent: QWidget | None = None, *, source: StationSource | None = None) -> None:
        """``station_config``: the station to use (None: review only), opened from ``source``
        when the command line knows it (it names the station and the simulated wafer)."""
        super().__init__(parent)
        configure_pyqtgraph()
        self.station_config = station_config
        self.watcher: WaferFileWatcher | None = None
        self.snapshot: WaferSnapshot | None = None
        self._last_file_error = ""
        self._shown_key: tuple[str, str, str] | None = None  # die, status, finished shown

        self.wafer_map = WaferMapWidget()
        self.die_view = DieView()
        self.run_control = RunControlPanel()
        self.instruments = InstrumentsPanel(station_config)
        self.training = TrainingPanel(station_args)
        self.log_pane = LogPane()
        self.die_summary = QLabel("Select a die on the wafer map")
        self.die_summary.setWordWrap(True)
        self.die_summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.die_summary.setAlignment(Qt.AlignmentFlag.AlignTop)
        service = (SweepService(source, station_config=station_config)
                   if station_config is not None else None)
        self.sweep_control = SweepController(service, self.run_control, self.instruments, self)
        self._layout()
        self._menus()
        self._connect()

        for name in _LOGGERS:
            self.log_pane.attach(logging.getLogger(name))
        self.run_control.set_station_available(station_config is not None)
        self.file_reader = FileReader(self)
        self.file_reader.loaded.connect(self._file_loaded)
        self.file_reader.failed.connect(self._file_failed)
        self.file_timer = QTimer(self)
        self.file_timer.setInterval(FILE_POLL_MS)
        self.file_timer.timeout.connect(self.refresh_from_file)
        self.file_timer.start()
        if wafer_path is not None:
            self.open_wafer(wafer_path)
        self._update_title()
        self.instruments.start()

    # ---- building -----------------------------------------------------------------------------

    def _layout(self) -> None:
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(4, 4, 4, 4)
        left_layout.addWidget(self.wafer_map, 3)
        left_layout.addWidget(self.die_summary, 1)

        center = QSplitter(Qt.Orientation.Vertical)
        center.addWidget(self.die_view)
        center.addWidget(self.log_pane)
        center.setStretchFactor(0, 5)
        center.setStretchFactor(1, 1)

        self.tabs = QTabWidget()
        self.tabs.addTab(_scrolled(self.run_control), "Run")
        self.tabs.addTab(_scrolled(self.instruments), "Instruments")
        self.tabs.addTab(_scrolled(self.training), "Training")

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(center)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        splitter.setStretchFactor(2, 2)
        self.setCentralWidget(splitter)

        toolbar = QToolBar("Run")
        toolbar.setObjectName("run-toolbar")
        toolbar.setMovable(False)
        toolbar.addWidget(self.run_control.bar)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        self.status_bar = QStatusBar()
        self.setStatusBar(self.status_bar)
        self.status_bar.showMessage("Ready")
        screen = self.screen() or QApplication.primaryScreen()
        size = initial_size(screen.availableGeometry().size()) if screen else PREFERRED_SIZE
        self.resize(size)
        splitter.setSizes([round(size.width() * share) for share in COLUMN_SHARES])

    def _menus(self) -> None:
        menu_bar = QMenuBar(self)
        self.setMenuBar(menu_bar)
        file_menu = QMenu("&File", self)
        menu_bar.addMenu(file_menu)
        open_action = QAction("&Open wafer file…", self)
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._open_dialog)
        results_action = QAction("Open training &results…", self)
        results_action.triggered.connect(self.training.open_button.click)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(open_action)
        file_menu.addAction(results_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)

    def _connect(self) -> None:
        self.wafer_map.dieSelected.connect(self.show_die)
        self.run_control.resume_requested.connect(self._resume_requested)
        self.sweep_control.launched.connect(self._sweep_launched)
        self.sweep_control.die_event.connect(self._die_event)
        self.sweep_control.finished.connect(self._sweep_finished)
        self.training.output_line.connect(self.log_pane.message)
        self.training.runner.started.connect(self._child_started)
        self.training.runner.finished.connect(self._child_finished)
        self.training.results_loaded.connect(self._show_validation_errors)

    def _child_started(self) -> None:
        """A child run (reproduce) may need the station: the panel lets go of it meanwhile."""
        if not self.sweep_control.active():
            self.instruments.lend("a child run")

    def _child_finished(self, code: int) -> None:
        if not self.sweep_control.active():
            self.instruments.start()

    # ---- wafer file ---------------------------------------------------------------------------

    def open_wafer(self, path: str | Path) -> bool:
        """Show a wafer file (review, or the file a resume continues). False if unusable."""
        if self.sweep_control.active():
            show_error(self, "Sweep running", "Wait for the sweep to end before opening a file.")
            return False
        watcher = WaferFileWatcher(path)
        try:
            snapshot = watcher.snapshot()
        except LabctlError as exc:
            show_exception(self, exc, "cannot open wafer file")
            return False
        self.watcher = watcher
        self.run_control.output_edit.setText(str(watcher.path))
        self.training.set_wafer(watcher.path)
        self._apply_snapshot(snapshot)
        log.info("opened %s (wafer %s, %d of %d dies complete)", watcher.path,
                 snapshot.wafer_id, snapshot.count("complete"), len(ALL_DIE_NAMES))
        if self.wafer_map.selected_die() is None:
            first = next((n for n in ALL_DIE_NAMES if n in snapshot.summaries), ALL_DIE_NAMES[0])
            self.wafer_map.select_die(first)
        else:
            self.show_die(self.wafer_map.selected_die() or ALL_DIE_NAMES[0])
        self._update_title()
        return True

    def refresh_from_file(self) -> None:
        """Timer slot: if the writer published a newer file, read it in the reader thread."""
        watcher = self.watcher
        if watcher is None or self.file_reader.busy() or not watcher.changed():
            return
        if not watcher.path.exists():
            return  # a new sweep has not created it yet
        self.file_reader.request(watcher, self.wafer_map.selected_die(), self._shown_key)

    def reload_now(self) -> None:
        """Read the file in this thread and show it (end of a sweep, explicit actions)."""
        if self.watcher is None or not self.watcher.path.exists():
            return
        try:
            update = read_update(self.watcher, self.wafer_map.selected_die(), self._shown_key)
        except LabctlError as exc:
            self._file_failed(str(self.watcher.path), str(exc))
            return
        self._file_loaded(update)

    def _file_loaded(self, update: FileUpdate) -> None:
        if self.watcher is None or update.snapshot.path != self.watcher.path:
            return  # a read of a file no longer shown
        self._last_file_error = ""
        self._apply_snapshot(update.snapshot)
        selected = self.wafer_map.selected_die()
        if update.tiles is not None and selected is not None and update.die == selected:
            self._draw_die(selected, update.tiles)

    def _file_failed(self, path: str, message: str) -> None:
        if message != self._last_file_error:
            log.warning("cannot read %s: %s", path, message)
            self._last_file_error = message

    def _forget_wafer(self) -> None:
        """Blank map and die view before another file is shown."""
        self.watcher, self.snapshot = None, None
        self.wafer_map.set_statuses({})
        for key in ("yield", "defect_count", "median_tmr"):
            self.wafer_map.set_metric_values(key, {})
        self.die_view.clear("No data yet")
        self.die_summary.setText("")

    def _apply_snapshot(self, snapshot: WaferSnapshot) -> None:
        self.snapshot = snapshot
        self.wafer_map.set_statuses(snapshot.statuses)
        for key in ("yield", "defect_count", "median_tmr"):
            self.wafer_map.set_metric_values(key, snapshot.metric_values(key))
        self.run_control.set_resumable(bool(snapshot.unfinished())
                                       and snapshot.kind == "measurement")

    def show_die(self, name: str) -> None:
        """Show die `name` from the file in the die view (and its summary)."""
        self.training.set_die(name)
        if self.watcher is None or self.snapshot is None or not self.watcher.path.exists():
            self._shown_key = None
            self.die_view.clear(f"{name}: no wafer file open")
            self.die_summary.setText(name)
            return
        try:
            tiles = self.watcher.die_tiles(name)
        except LabctlError as exc:
            self._shown_key = None
            self.die_view.clear(f"{name}: cannot read ({exc})")
            return
        self._draw_die(name, tiles)

    def _draw_die(self, name: str, tiles: list[TileData]) -> None:
        assert self.snapshot is not None
        status = self.snapshot.statuses.get(name, "pending")
        self._shown_key = self.snapshot.die_key(name)
        note = running_note(tiles) if status == "running" else ""
        if tiles:
            self.die_view.show_die(name, status, tiles, note)
            if status == "running" and self.die_view.current_tile() is not None:
                self.die_view.set_tile(tiles[-1].index)
        else:
            self.die_view.clear(f"{name} · {status} · no data")
        self.die_summary.setText(self._summary_text(name, status))

    def _summary_text(self, name: str, status: str) -> str:
        lines = [f"<b>{name}</b>: {status}"]
        summary = self.snapshot.summaries.get(name) if self.snapshot else None
        if summary is not None and summary.stats is not None:
            s = summary.stats
            defects = ", ".join(f"{k} {v}" for k, v in s.defects.items())
            lines += [
                f"yield {format_percent(s.yield_fraction, 2)} ({s.ok} of {s.cells} cells ok)",
                f"defects: {defects}",
                f"median R_P {format_si(s.median_r_parallel_ohm, 'Ω')}, "
                f"R_AP {format_si(s.median_r_antiparallel_ohm, 'Ω')}, "
                f"TMR {format_percent(s.median_tmr)}",
            ]
        reason = self.snapshot.failure_reasons.get(name) if self.snapshot else None
        if reason:
            lines.append(f"<span style='color:#c00000'>{html.escape(reason)}</span>")
        return "<br>".join(lines)

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open wafer file", "",
                                              "HDF5 wafer files (*.h5 *.hdf5);;All files (*)")
        if path:
            self.open_wafer(path)

    def _show_validation_errors(self, results: TrainingResults) -> None:
        modes = results.mode_names()
        if not modes:
            return
        mode = "statistics-aware" if "statistics-aware" in modes else modes[0]
        self.wafer_map.set_metric_values(
            "validation_error", dict(results.modes[mode].per_die), note=mode)

    # ---- sweep (run by the sweep controller) ---------------------------------------------------

    @property
    def sweep(self) -> SweepWorker | None:
        """The running sweep's worker, if any."""
        return self.sweep_control.worker

    def _resume_requested(self, values: dict[str, Any]) -> None:
        """Continue the open wafer file with the settings it was measured with."""
        if self.watcher is None or self.snapshot is None:
            show_error(self, "Nothing to resume", "Open the interrupted wafer file first.")
            return
        self.sweep_control.resume(self.watcher.path, values)

    def _sweep_launched(self, plan: SweepPlan) -> None:
        """Show the file the sweep writes (its map fills in as the writer publishes)."""
        if self.watcher is None or self.watcher.path != plan.output:
            self._forget_wafer()
            self.watcher = WaferFileWatcher(plan.output)
        self.training.set_wafer(plan.output)
        self._update_title()

    def _die_event(self, event: dict[str, Any]) -> None:
        if event.get("status") == "started":
            self._follow(str(event.get("die")))

    def _follow(self, name: str) -> None:
        """Select the die being measured; its maps come with the next file refresh."""
        self.wafer_map.blockSignals(True)
        try:
            self.wafer_map.select_die(name)
        finally:
            self.wafer_map.blockSignals(False)
        self.training.set_die(name)
        self._shown_key = None
        self.die_view.clear(f"{name} · running · waiting for the first checkpoint")
        self.die_summary.setText(f"<b>{name}</b>: running")

    def _sweep_finished(self, outcome: str, text: str) -> None:
        self.reload_now()
        self.status_bar.showMessage(text)
        self._update_title()

    # ---- window -------------------------------------------------------------------------------

    def _update_title(self) -> None:
        where = str(self.watcher.path) if self.watcher else "no wafer file"
        if self.station_config is None:
            mode = "review (read-only)"
        else:
            mode = f"station {self.station_config.name}"
        self.setWindowTitle(f"labctl — {where} — {mode}")

    def closeEvent(self, event: QCloseEvent | None) -> None:
        """Abort a running sweep (station to safe state) and stop every worker before closing."""
        self.file_timer.stop()
        self.sweep_control.shutdown()
        if self.training.runner.running():
            self.training.runner.stop()  # the child makes the station safe before it ends
            self.training.runner.wait(CHILD_STOP_WAIT_MS)
        self.instruments.shutdown()
        self.file_reader.stop()
        for name in _LOGGERS:
            self.log_pane.detach(logging.getLogger(name))
        super().closeEvent(event)


def initial_size(available: QSize) -> QSize:
    """:data:`PREFERRED_SIZE`, shrunk to fit ``available`` (a screen's free area, e.g. 1366 x
    728 on a 1366 x 768 laptop with a task bar)."""
    return QSize(min(PREFERRED_SIZE.width(), int(available.width() * SCREEN_SHARE)),
                 min(PREFERRED_SIZE.height(), int(available.height() * SCREEN_SHARE)))


def running_note(tiles: Sequence[TileData]) -> str:
    """What the last published checkpoint holds of the tile being measured."""
    if not tiles:
        return ""
    tile = tiles[-1]
    rows = tile.shape[0]
    read_p = int(np.isfinite(tile.r_parallel_ohm).any(axis=1).sum())
    read_ap = int(np.isfinite(tile.r_antiparallel_ohm).any(axis=1).sum())
    if tile.defects is not None:
        return f"tile {tile.index} measured"
    return (f"measuring tile {tile.index}: {read_p} of {rows} rows read after writing P, "
            f"{read_ap} after writing AP")


def _scrolled(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area


def run_app(station_config: StationConfig | None, wafer_path: Path | None,
            station_args: Sequence[str] = (), argv: Sequence[str] = (),
            source: StationSource | None = None) -> int:
    """Create the application and the window, run the event loop, return its exit code."""
    app = QApplication.instance() or QApplication(list(argv) or ["labctl"])
    window = MainWindow(station_config, wafer_path, station_args, source=source)
    install_excepthook(window)
    window.show()
    with close_on_stop_signals(window):
        code = int(app.exec())
    # Destroy the window (and its threads' owners) while the application still exists: left to
    # the interpreter's exit, Qt objects are torn down in arbitrary order and can crash.
    sip.delete(window)
    return code


@contextlib.contextmanager
def close_on_stop_signals(window: QMainWindow) -> Iterator[None]:
    """SIGINT, SIGTERM, SIGHUP and SIGQUIT close the window the way its close button does: a
    running sweep is aborted and its station made safe, a child run stopped, before the event
    loop ends. A timer lets Python run its signal handlers while Qt's event loop waits."""
    ticks = QTimer(window)
    ticks.timeout.connect(lambda: None)
    ticks.start(SIGNAL_TICK_MS)

    def handle(signum: int, frame: FrameType | None) -> None:
        log.warning("%s: closing the window (sweep aborted, station made safe)",
                    signal.Signals(signum).name)
        QTimer.singleShot(0, window.close)

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        ticks.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

"""Run control: output file, dies to measure, procedure parameters, start / pause / abort / resume.

The panel only collects the operator's choices and shows the run state; the sweep controller
(gui.sweep_control) runs them through the sweep service. The parameter inputs are generated from
the sweep spec (one per setting of the sweep procedure); dies are picked on a miniature wafer map
of toggle buttons.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.dialogs import show_exception
from gui.parameter_inputs import ParameterForm
from labctl.core.errors import ConfigError
from labctl.core.wafer_map import ALL_DIE_NAMES, WAFER_MAP, die_name
from labctl.services.sweep.plan import SweepRequest
from labctl.services.sweep.spec import SweepSpec, sweep_spec

#: GUI defaults that differ from the command line's: frequent checkpoints, so the live view
#: fills in often. Read batching is the sweep procedure's default, as on the command line
#: (whole tiles per acquisition; the live view still gets each read pass).
GUI_DEFAULTS: dict[str, Any] = {"checkpoint_interval": 0.25}


class RunState:
    IDLE = "idle"
    STARTING = "starting"
    RUNNING = "running"
    PAUSING = "pausing"
    ABORTING = "aborting"


class DiePicker(QWidget):
    """Toggle buttons laid out like the wafer map; checked = measure this die."""

    changed = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setSpacing(2)
        grid.setContentsMargins(0, 0, 0, 0)
        self._buttons: dict[str, QToolButton] = {}
        for col, row in WAFER_MAP:
            name = die_name(col, row)
            button = QToolButton()
            button.setText(f"{col},{row}")
            button.setToolTip(name)
            button.setCheckable(True)
            button.setFixedSize(34, 22)
            button.setObjectName(f"pick-{name}")
            button.toggled.connect(self.changed.emit)
            grid.addWidget(button, row, col)
            self._buttons[name] = button

    def selected(self) -> list[str]:
        """Checked dies in wafer-map (stepping) order."""
        return [name for name in ALL_DIE_NAMES if self._buttons[name].isChecked()]

    def set_selected(self, names: Iterable[str]) -> None:
        wanted = set(names)
        unknown = wanted - set(self._buttons)
        if unknown:
            raise ConfigError(f"not on the wafer map: {', '.join(sorted(unknown))}")
        for name, button in self._buttons.items():
            button.blockSignals(True)
            button.setChecked(name in wanted)
            button.blockSignals(False)
        self.changed.emit()

    def button(self, name: str) -> QToolButton:
        return self._buttons[name]


class RunControlPanel(QWidget):
    """Collects a :class:`SweepRequest`; buttons follow the run state."""

    start_requested = pyqtSignal(object)  # SweepRequest
    pause_requested = pyqtSignal()
    abort_requested = pyqtSignal()
    resume_requested = pyqtSignal(object)  # dict of setting values (run settings apply)

    def __init__(self, spec: SweepSpec | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec or sweep_spec()
        self._state = RunState.IDLE
        self._has_station = True
        self._can_resume = False

        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("wafer file to write, e.g. wafer.h5")
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.clicked.connect(self._browse)
        output_row = QHBoxLayout()
        output_row.addWidget(QLabel("Output"))
        output_row.addWidget(self.output_edit, 1)
        output_row.addWidget(browse)

        self.picker = DiePicker()
        self.picker.changed.connect(self._update)
        all_button = QPushButton("All")
        all_button.clicked.connect(lambda: self.picker.set_selected(ALL_DIE_NAMES))
        none_button = QPushButton("None")
        none_button.clicked.connect(lambda: self.picker.set_selected([]))
        self.selection_label = QLabel()
        picker_buttons = QHBoxLayout()
        picker_buttons.addWidget(self.selection_label, 1)
        picker_buttons.addWidget(all_button)
        picker_buttons.addWidget(none_button)
        dies_box = QGroupBox("Dies to measure")
        dies_layout = QVBoxLayout(dies_box)
        dies_layout.addWidget(self.picker)
        dies_layout.addLayout(picker_buttons)

        self.form = ParameterForm(self.spec.parameters())
        for name, value in GUI_DEFAULTS.items():
            if name in self.form.names():
                self.form.set_value(name, value)
        params_box = QGroupBox("Procedure parameters")
        QVBoxLayout(params_box).addWidget(self.form)

        self.start_button = QPushButton("Start sweep")
        self.pause_button = QPushButton("Pause after die")
        self.pause_button.setToolTip("Finish the die being measured, then stop; resume later")
        self.abort_button = QPushButton("Abort")
        self.abort_button.setToolTip("Stop now; the station goes to its safe state")
        self.abort_button.setStyleSheet("QPushButton:enabled { color: #b00000; font-weight: bold }")
        self.resume_button = QPushButton("Resume file")
        self.resume_button.setToolTip("Continue the open wafer file: redo every die not complete")
        self.start_button.clicked.connect(self._start_clicked)
        self.pause_button.clicked.connect(self.pause_requested.emit)
        self.abort_button.clicked.connect(self.abort_requested.emit)
        self.resume_button.clicked.connect(self._resume_clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("%p %")
        self.progress.setMinimumWidth(160)
        self.state_label = QLabel("Idle")

        #: Buttons, progress and state: the window shows this bar where it is always visible.
        self.bar = QWidget()
        bar_layout = QHBoxLayout(self.bar)
        bar_layout.setContentsMargins(4, 2, 4, 2)
        for button in (self.start_button, self.pause_button, self.abort_button,
                       self.resume_button):
            bar_layout.addWidget(button)
        bar_layout.addWidget(self.progress, 1)
        bar_layout.addWidget(self.state_label, 2)

        layout = QVBoxLayout(self)
        layout.addLayout(output_row)
        layout.addWidget(dies_box)
        layout.addWidget(params_box)
        layout.addStretch(1)
        self._update()

    # ---- public API -------------------------------------------------------------------------

    def state(self) -> str:
        return self._state

    def set_state(self, state: str, text: str = "") -> None:
        self._state = state
        if text:
            self.state_label.setText(text)
        self._update()

    def set_station_available(self, available: bool) -> None:
        self._has_station = available
        if not available:
            self.state_label.setText("Read-only review: no station connected")
        self._update()

    def set_resumable(self, resumable: bool) -> None:
        """Whether the open wafer file has dies left to measure."""
        self._can_resume = resumable
        self._update()

    def set_progress(self, percent: float) -> None:
        self.progress.setValue(round(10 * max(0.0, min(100.0, percent))))

    def output_path(self) -> Path | None:
        text = self.output_edit.text().strip()
        return Path(text).expanduser() if text else None

    def build_request(self, resume: bool = False) -> SweepRequest:
        """The request from the inputs; ConfigError says what is missing or wrong."""
        output = self.output_path()
        if output is None:
            raise ConfigError("choose an output wafer file first")
        dies = self.picker.selected()
        if not dies:
            raise ConfigError("select at least one die to measure")
        return SweepRequest(output, tuple(dies), self.form.values(), resume)

    # ---- internals --------------------------------------------------------------------------

    def _start_clicked(self) -> None:
        try:
            request = self.build_request()
        except ConfigError as exc:
            show_exception(self, exc)
            return
        self.start_requested.emit(request)

    def _resume_clicked(self) -> None:
        self.resume_requested.emit(self.form.values())

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Wafer file to write", self.output_edit.text(),
                                              "HDF5 wafer files (*.h5)")
        if path:
            self.output_edit.setText(path)

    def _update(self) -> None:
        idle = self._state == RunState.IDLE
        running = self._state in (RunState.RUNNING, RunState.PAUSING, RunState.STARTING)
        n = len(self.picker.selected())
        self.selection_label.setText(f"{n} of {len(ALL_DIE_NAMES)} dies")
        self.start_button.setEnabled(self._has_station and idle and n > 0)
        self.resume_button.setEnabled(self._has_station and idle and self._can_resume)
        self.pause_button.setEnabled(self._state == RunState.RUNNING)
        self.abort_button.setEnabled(running)
        self.form.setEnabled(idle and self._has_station)
        self.picker.setEnabled(idle and self._has_station)
        self.output_edit.setEnabled(idle and self._has_station)

"""The instruments panel: connection, IDN, chuck and contact, SMU outputs and compliance trips.

All instrument traffic runs in the poller's own thread. The panel's connection is a read-only
station session: it holds the station lock (another process is refused, and the panel shows who
holds the station when it cannot have it). Polling stops while a sweep owns the instruments:
:meth:`InstrumentsPanel.release` closes the panel's connection and lock first (queued behind any
poll in flight) and signals ``released`` when the instruments are free; :meth:`lend` does the same
for a child process (a reproduce run) without starting a sweep.
"""

from __future__ import annotations

import contextlib
import logging

from PyQt6.QtCore import QObject, QThread, QTimer, pyqtSignal, pyqtSlot
from PyQt6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.instrument_status import InstrumentStatus, read_instrument_status
from gui.style import format_si
from labctl.core.roles import ROLE_TITLES, ROLES, Role
from labctl.services.station_session import config_session
from labctl.station.config import StationConfig
from labctl.station.station import Station

log = logging.getLogger("gui.instruments")

POLL_INTERVAL_MS = 2000

_SMU_FIELDS = (("idn", "IDN"), ("output", "Output"), ("level", "Source level"),
               ("compliance", "Current limit"), ("trip", "Compliance trip"))
_FIELDS: dict[Role, tuple[tuple[str, str], ...]] = {
    Role.PROBER: (("idn", "IDN"), ("die", "Die under probes"), ("chuck", "Chuck x, y, z"),
                  ("contact", "Probes")),
    Role.READ_SMU: _SMU_FIELDS,
    Role.GATE_SMU: _SMU_FIELDS,
    Role.CONTROLLER: (("idn", "IDN"), ("routing", "Routing"), ("address", "Tile, row, column")),
}


class InstrumentPoller(QObject):
    """Lives in a worker thread; owns the panel's connection to the station."""

    polled = pyqtSignal(object)  # InstrumentStatus
    failed = pyqtSignal(str)
    released = pyqtSignal()
    safe_state_done = pyqtSignal(str)  # "" on success, else the error

    def __init__(self, config: StationConfig) -> None:
        super().__init__()
        self._config = config
        self._station: Station | None = None
        self._session: contextlib.ExitStack | None = None

    @pyqtSlot()
    def poll(self) -> None:
        try:
            station = self._connected()
            status = read_instrument_status(station)
        except Exception as exc:  # shown in the panel; the next poll reconnects
            self._drop()
            self.failed.emit(str(exc))
            return
        if len(status.errors) == len(ROLES):
            self._drop()  # nothing answers: reconnect next time
        self.polled.emit(status)

    @pyqtSlot()
    def safe_state(self) -> None:
        try:
            self._connected().safe_state()
        except Exception as exc:
            self._drop()
            self.safe_state_done.emit(str(exc))
            return
        self.safe_state_done.emit("")

    @pyqtSlot()
    def release(self) -> None:
        self._drop()
        self.released.emit()

    def _connected(self) -> Station:
        if self._station is None:
            session = contextlib.ExitStack()
            self._station = session.enter_context(
                config_session(self._config, "gui instruments panel", read_only=True))
            self._session = session
        return self._station

    def _drop(self) -> None:
        session, self._session, self._station = self._session, None, None
        if session is not None:
            session.close()  # connection closed, station lock released


class InstrumentsPanel(QWidget):
    """Shows the last poll; polls every 2 s while enabled and no sweep runs."""

    poll_requested = pyqtSignal()
    release_requested = pyqtSignal()
    safe_state_requested = pyqtSignal()
    released = pyqtSignal()
    status_updated = pyqtSignal(object)  # InstrumentStatus

    def __init__(self, config: StationConfig | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._config = config
        self._values: dict[tuple[Role, str], QLabel] = {}
        self.last_status: InstrumentStatus | None = None

        self.connection_label = QLabel()
        self.connection_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.connection_label)
        for role in ROLES:
            box = QGroupBox(ROLE_TITLES[role])
            form = QFormLayout(box)
            for key, title in _FIELDS[role]:
                value = QLabel("—")
                value.setWordWrap(True)
                form.addRow(title, value)
                self._values[(role, key)] = value
            layout.addWidget(box)
        self.auto_refresh = QCheckBox("Refresh every 2 s")
        self.refresh_button = QPushButton("Refresh now")
        self.safe_button = QPushButton("Safe state")
        self.safe_button.setToolTip("SMUs to 0 V and off, controller deselected, chuck separated")
        buttons = QHBoxLayout()
        buttons.addWidget(self.auto_refresh)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.safe_button)
        layout.addLayout(buttons)
        layout.addStretch(1)

        self._timer = QTimer(self)
        self._timer.setInterval(POLL_INTERVAL_MS)
        self._timer.timeout.connect(self.refresh)
        self._thread: QThread | None = None
        self._poller: InstrumentPoller | None = None
        self._busy = False  # instruments lent to a sweep
        self._lent = False  # instruments lent to a child process
        if config is None:
            self.connection_label.setText("No station: read-only review of a wafer file.")
            for widget in (self.auto_refresh, self.refresh_button, self.safe_button):
                widget.setEnabled(False)
            return
        self._start_thread(config)
        self.auto_refresh.setChecked(True)
        self.auto_refresh.toggled.connect(self._auto_toggled)
        self.refresh_button.clicked.connect(self.refresh)
        self.safe_button.clicked.connect(self.safe_state_requested.emit)
        self.connection_label.setText(f"Station {config.name}: connecting ...")

    # ---- public API -------------------------------------------------------------------------

    def has_station(self) -> bool:
        return self._config is not None

    def value_text(self, role: Role, key: str) -> str:
        return self._values[(role, key)].text()

    def start(self) -> None:
        """Poll now and then periodically (if auto-refresh is on)."""
        if self._config is None:
            return
        self._lent = False
        self._busy = False
        self._set_buttons_enabled(True)
        self.refresh()
        if self.auto_refresh.isChecked():
            self._timer.start()

    @pyqtSlot()
    def refresh(self) -> None:
        if self._config is not None and not self._busy:
            self.poll_requested.emit()

    def release(self) -> None:
        """Stop polling and close the connection; ``released`` follows."""
        self._busy = True
        self._timer.stop()
        self._set_buttons_enabled(False)
        if self._config is None:
            self.released.emit()
            return
        self.connection_label.setText(f"Station {self._config.name}: in use by the sweep "
                                      "(instruments not polled during measurements)")
        self.release_requested.emit()

    def lend(self, who: str) -> None:
        """Stop polling and release the connection and the station lock for another process
        (``who``, e.g. a reproduce run); :meth:`start` takes the station back."""
        self._lent = True
        self.release()
        if self._config is not None:
            self.connection_label.setText(f"Station {self._config.name}: in use by {who} "
                                          "(instruments not polled meanwhile)")

    def shutdown(self) -> None:
        """Close the connection and stop the worker thread (window closing)."""
        self._timer.stop()
        if self._thread is not None and self._poller is not None:
            self.release_requested.emit()
            self._thread.quit()
            # A poll in progress ends within its VISA timeout; a QThread destroyed while it
            # still runs aborts the process, so wait for it however long that takes.
            while not self._thread.wait(5000):
                log.warning("waiting for the instrument poller to finish its poll")
            self._thread = None

    # ---- internals --------------------------------------------------------------------------

    def _start_thread(self, config: StationConfig) -> None:
        self._thread = QThread(self)
        self._thread.setObjectName("instrument-poller")
        self._poller = InstrumentPoller(config)
        self._poller.moveToThread(self._thread)
        self.poll_requested.connect(self._poller.poll)
        self.release_requested.connect(self._poller.release)
        self.safe_state_requested.connect(self._poller.safe_state)
        self._poller.polled.connect(self._show)
        self._poller.failed.connect(self._show_failure)
        self._poller.released.connect(self._released)
        self._poller.safe_state_done.connect(self._safe_state_done)
        self._thread.finished.connect(self._poller.deleteLater)
        self._thread.start()

    def _auto_toggled(self, on: bool) -> None:
        if on and not self._busy:
            self._timer.start()
        else:
            self._timer.stop()

    def _set_buttons_enabled(self, enabled: bool) -> None:
        for widget in (self.refresh_button, self.safe_button):
            widget.setEnabled(enabled)

    def _released(self) -> None:
        if self._busy and not self._lent:
            self.released.emit()

    def _safe_state_done(self, error: str) -> None:
        if error:
            log.error("safe state failed: %s", error)
        else:
            log.info("station in safe state")
        self.refresh()

    def _show_failure(self, message: str) -> None:
        if self._busy:
            return
        name = self._config.name if self._config else ""
        self.connection_label.setText(f"Station {name}: NOT CONNECTED — {message}")
        self.connection_label.setStyleSheet("color:#c00000; font-weight:bold")
        for label in self._values.values():
            label.setText("—")

    def _show(self, status: InstrumentStatus) -> None:
        if self._busy:
            return
        self.last_status = status
        name = self._config.name if self._config else ""
        if status.errors:
            failing = ", ".join(ROLE_TITLES[r] for r in status.errors)
            self.connection_label.setText(f"Station {name}: connected; not answering: {failing}")
            self.connection_label.setStyleSheet("color:#c00000; font-weight:bold")
        else:
            self.connection_label.setText(f"Station {name}: connected")
            self.connection_label.setStyleSheet("color:#1d7a33")
        for role in ROLES:
            self._set(role, "idn", status.idn.get(role, "—"))
            if role in status.errors:
                self._set(role, "idn", f"error: {status.errors[role]}", error=True)
        if status.prober is not None:
            p = status.prober
            self._set(Role.PROBER, "die", "none" if p.map_position is None
                      else f"column {p.map_position[0]}, row {p.map_position[1]}")
            x, y, z = p.chuck_um
            self._set(Role.PROBER, "chuck", f"{x:.0f} µm, {y:.0f} µm, {z:.0f} µm")
            self._set(Role.PROBER, "contact", "CONTACT" if p.in_contact else "separated",
                      warn=p.in_contact)
        for role, smu in status.smus.items():
            self._set(role, "output", "ON" if smu.output_on else "off", warn=smu.output_on)
            self._set(role, "level", format_si(smu.level_V, "V"))
            self._set(role, "compliance", format_si(smu.compliance_A, "A"))
            tripped = bool(smu.tripped)
            self._set(role, "trip", "TRIPPED" if tripped else "no", error=tripped)
        if status.controller is not None:
            c = status.controller
            self._set(Role.CONTROLLER, "routing", "ON" if c.routed else "off", warn=c.routed)
            self._set(Role.CONTROLLER, "address", f"{c.tile}, {c.row}, {c.column}")
        self.status_updated.emit(status)

    def _set(self, role: Role, key: str, text: str, warn: bool = False,
             error: bool = False) -> None:
        label = self._values[(role, key)]
        label.setText(text)
        if error:
            label.setStyleSheet("color:#c00000; font-weight:bold")
        elif warn:
            label.setStyleSheet("color:#a05a00; font-weight:bold")
        else:
            label.setStyleSheet("")

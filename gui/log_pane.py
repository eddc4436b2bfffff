"""The log pane: what the sweep, the instruments and the GUI report, newest at the bottom.

Python ``logging`` records from any thread reach the pane through a queued Qt signal, so worker
threads can log freely without touching widgets.
"""

from __future__ import annotations

import contextlib
import logging
import time

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtGui import QFont, QTextCursor
from PyQt6.QtWidgets import QPlainTextEdit, QWidget

_MAX_LINES = 5000


class _Relay(QObject):
    """Carries formatted records from any thread to the GUI thread."""

    line = pyqtSignal(str, int)


class QtLogHandler(logging.Handler):
    """A logging handler that forwards records to a :class:`LogPane`."""

    def __init__(self, relay: _Relay) -> None:
        super().__init__()
        self._relay = relay
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                            "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        # RuntimeError: the pane was destroyed while a worker still logs
        with contextlib.suppress(RuntimeError):
            self._relay.line.emit(self.format(record), record.levelno)


class LogPane(QPlainTextEdit):
    """Read-only, bounded, monospaced log; warnings and errors are highlighted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(_MAX_LINES)
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.TypeWriter)
        font.setPointSize(9)
        self.setFont(font)
        self._relay = _Relay()
        self._relay.line.connect(self._append)
        self.handler = QtLogHandler(self._relay)

    def attach(self, logger: logging.Logger, level: int = logging.INFO) -> None:
        """Show ``logger``'s records (and its children's) at ``level`` and above."""
        self.handler.setLevel(level)
        logger.addHandler(self.handler)
        if logger.getEffectiveLevel() > level:
            logger.setLevel(level)

    def detach(self, logger: logging.Logger) -> None:
        logger.removeHandler(self.handler)

    def message(self, text: str, level: int = logging.INFO) -> None:
        """Add a line from the GUI itself."""
        stamp = time.strftime("%H:%M:%S")
        self._append(f"{stamp} {logging.getLevelName(level)} gui: {text}", level)

    def lines(self) -> list[str]:
        return self.toPlainText().splitlines()

    def _append(self, text: str, level: int) -> None:
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if level >= logging.ERROR:
            html = f'<span style="color:#c00000;font-weight:bold">{escaped}</span>'
        elif level >= logging.WARNING:
            html = f'<span style="color:#a05a00">{escaped}</span>'
        else:
            html = f"<span>{escaped}</span>"
        self.appendHtml(html)
        self.moveCursor(QTextCursor.MoveOperation.End)

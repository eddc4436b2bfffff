"""Error reporting that never takes the window down: non-blocking dialogs and a last-resort hook.

Dialogs are opened with ``open()`` (window-modal, returns at once), so a failing background job
can report while the event loop keeps running, and headless tests can inspect them.
"""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QMessageBox, QWidget

from labctl.core.errors import DataFormatError, InstrumentError, LabctlError, SafetyError

log = logging.getLogger("gui")

_TITLES: tuple[tuple[type[BaseException], str], ...] = (
    (InstrumentError, "Instrument problem"),
    (SafetyError, "Refused for safety"),
    (DataFormatError, "Unusable data file"),
    (LabctlError, "Cannot do that"),
)


def error_title(exc: BaseException) -> str:
    """A heading that says what kind of problem the operator faces."""
    for cls, title in _TITLES:
        if isinstance(exc, cls):
            return title
    return "Unexpected error"


def show_error(parent: QWidget | None, title: str, text: str, details: str = "") -> QMessageBox:
    """Open a non-blocking error dialog and log the message."""
    log.error("%s: %s", title, text)
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(title)
    box.setText(text)
    if details:
        box.setDetailedText(details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setObjectName("labctl-error-dialog")
    box.open()
    return box


def show_exception(parent: QWidget | None, exc: BaseException, context: str = "") -> QMessageBox:
    """Dialog for an exception: labctl errors as their one-line message, others with a trace."""
    text = f"{context}: {exc}" if context else str(exc)
    details = "" if isinstance(exc, LabctlError) else "".join(
        traceback.format_exception(type(exc), exc, exc.__traceback__))
    return show_error(parent, error_title(exc), text, details)


def install_excepthook(parent: QWidget) -> None:
    """Report exceptions that escape Qt slots in a dialog instead of aborting the application."""

    def hook(exc_type: type[BaseException], exc: BaseException,
             tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.error("unhandled error", exc_info=(exc_type, exc, tb))
        try:
            show_exception(parent, exc.with_traceback(tb))
        except RuntimeError:  # the window is already gone
            sys.__excepthook__(exc_type, exc, tb)

    sys.excepthook = hook

"""Error dialogs open without blocking and say what kind of problem it is."""

from __future__ import annotations

import sys

import pytest
from PyQt6.QtWidgets import QMessageBox, QWidget

from gui.dialogs import error_title, install_excepthook, show_exception
from labctl.core.errors import ConfigError, DataFormatError, InstrumentError, SafetyError


@pytest.mark.parametrize(("exc", "title"), [
    (InstrumentError("prober timed out"), "Instrument problem"),
    (SafetyError("above limit"), "Refused for safety"),
    (DataFormatError("newer format"), "Unusable data file"),
    (ConfigError("bad value"), "Cannot do that"),
    (ZeroDivisionError("bug"), "Unexpected error"),
])
def test_titles_name_the_kind_of_problem(exc, title):
    assert error_title(exc) == title


def test_dialog_is_non_blocking_and_carries_details_only_for_bugs(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    box = show_exception(parent, InstrumentError("gate SMU does not answer"), "poll")
    assert box.isVisible() and box.text() == "poll: gate SMU does not answer"
    assert box.detailedText() == ""
    try:
        raise ZeroDivisionError("oops")
    except ZeroDivisionError as exc:
        bug = show_exception(parent, exc)
    assert "Traceback" in bug.detailedText()


def test_excepthook_turns_escaped_exceptions_into_dialogs(qtbot, monkeypatch):
    parent = QWidget()
    qtbot.addWidget(parent)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    install_excepthook(parent)
    sys.excepthook(RuntimeError, RuntimeError("slot failed"), None)
    boxes = [b for b in parent.findChildren(QMessageBox) if b.isVisible()]
    assert [b.text() for b in boxes] == ["slot failed"]

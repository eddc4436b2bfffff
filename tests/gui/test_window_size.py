"""The window fits a 1366 x 768 screen, and its sweeps read as the command line's do."""

from __future__ import annotations

from PyQt6.QtCore import QSize

from gui.app import PREFERRED_SIZE, MainWindow, initial_size
from gui.run_control import GUI_DEFAULTS, RunControlPanel
from labctl.services.sweep.spec import sweep_spec

#: A 1366 x 768 laptop screen less a 40 px task bar.
LAPTOP_FREE = QSize(1366, 728)


def test_the_window_opens_within_a_small_screen_and_at_its_size_on_a_large_one() -> None:
    small = initial_size(LAPTOP_FREE)
    assert small.width() <= 1366 and small.height() <= 728
    assert initial_size(QSize(3840, 2160)) == PREFERRED_SIZE


def test_every_panel_fits_a_1366_x_768_screen(synthetic_wafer, qtbot) -> None:
    """Minimum sizes (the layout's hint included) leave the window resizable to the laptop's
    free area; the window takes the size it is given there."""
    window = MainWindow(None, synthetic_wafer.path)
    qtbot.addWidget(window)
    hint = window.minimumSizeHint().expandedTo(window.minimumSize())
    assert hint.width() <= LAPTOP_FREE.width() and hint.height() <= LAPTOP_FREE.height(), hint
    window.resize(initial_size(LAPTOP_FREE))
    window.show()
    qtbot.waitExposed(window)
    assert window.width() <= 1366 and window.height() <= 728
    window.close()


def test_the_window_reads_with_the_command_lines_batching(qtbot) -> None:
    """One declaration: the read batching default is the sweep procedure's, in the window
    as on the command line."""
    panel = RunControlPanel()
    qtbot.addWidget(panel)
    assert "batching" not in GUI_DEFAULTS
    default = next(s.default for s in sweep_spec() if s.name == "batching")
    assert panel.form.values()["batching"] == default == "tile"

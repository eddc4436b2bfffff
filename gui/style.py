"""Colours, fonts and pyqtgraph settings shared by every view, so the window reads as one."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PyQt6.QtGui import QColor

from labctl.core.defects import DefectCode

#: Die status -> fill colour on the wafer map (grey, amber, green, red: distinct in greyscale too).
STATUS_COLORS: dict[str, str] = {
    "pending": "#d9d9d9",
    "running": "#f2a900",
    "complete": "#2e9e44",
    "failed": "#d62728",
}
#: Colour of a die that has no value for the chosen metric.
NO_VALUE_COLOR = "#f2f2f2"
SELECTED_OUTLINE_COLOR = "#d000d0"  # magenta: absent from every palette used

#: Defect code -> colour in the defect map and its legend.
DEFECT_COLORS: dict[DefectCode, str] = {
    DefectCode.OK: "#e3e3e3",
    DefectCode.SHORT: "#d62728",
    DefectCode.OPEN: "#111111",
    DefectCode.STUCK_P: "#1f77b4",
    DefectCode.STUCK_AP: "#ff7f0e",
}
DEFECT_LABELS: dict[DefectCode, str] = {
    DefectCode.OK: "ok",
    DefectCode.SHORT: "short",
    DefectCode.OPEN: "open",
    DefectCode.STUCK_P: "stuck P",
    DefectCode.STUCK_AP: "stuck AP",
}

R_PARALLEL_COLOR = "#1f77b4"
R_ANTIPARALLEL_COLOR = "#ff7f0e"
THRESHOLD_COLOR = "#444444"

_configured = False


def configure_pyqtgraph() -> None:
    """White plots with dark text and antialiasing (legible on screen and in screenshots)."""
    global _configured
    if not _configured:
        pg.setConfigOptions(background="w", foreground="#202020", antialias=True)
        _configured = True


def qcolor(hex_color: str) -> QColor:
    return QColor(hex_color)


def format_si(value: float | None, unit: str, precision: int = 3) -> str:
    """``4.21 kΩ``-style text; ``—`` for a missing or non-finite value."""
    if value is None or not math.isfinite(value):
        return "—"
    return str(pg.siFormat(value, precision=precision, suffix=unit))


def format_percent(fraction: float | None, decimals: int = 1) -> str:
    """A fraction as percent text; ``—`` when missing."""
    if fraction is None or not math.isfinite(fraction):
        return "—"
    return f"{100.0 * fraction:.{decimals}f} %"

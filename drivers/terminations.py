"""Message terminations shared by every labctl instrument (all of them end lines with ``\\n``)."""

from __future__ import annotations

from typing import Any

LINE_TERMINATION = "\n"


def with_line_terminations(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Return ``kwargs`` with ``read_termination`` and ``write_termination`` defaulting to ``\\n``.

    PyMeasure passes them to the VISA adapter when a driver is opened from a resource string;
    an explicit value given by the caller wins.
    """
    merged = dict(kwargs)
    merged.setdefault("read_termination", LINE_TERMINATION)
    merged.setdefault("write_termination", LINE_TERMINATION)
    return merged

"""Small SCPI helpers shared by the SMU and array-controller drivers."""

from __future__ import annotations

import math
from typing import Any

from labctl.errors import InstrumentError

#: Numeric keywords SCPI accepts in place of a number, mapped to what labctl assumes they mean
#: for a safety check (anything but DEF is treated as unbounded).
_KEYWORD_VALUES = {"DEF": 0.0, "DEFAULT": 0.0}


def scpi_segments(command: str) -> list[tuple[str, str]]:
    """Split a (compound) SCPI command into ``(HEADER, argument)`` pairs.

    Headers are upper-cased without the leading colon; empty segments (a trailing ``;``)
    are dropped. Only absolute headers are understood, which is what labctl's drivers send.
    """
    segments = []
    for segment in command.split(";"):
        text = segment.strip()
        if not text:
            continue
        header, _, argument = text.partition(" ")
        segments.append((header.lstrip(":").upper(), argument.strip()))
    return segments


def parse_number(argument: str) -> float:
    """A SCPI numeric argument as float; unknown keywords (MAX, MIN, ...) become ``inf``.

    Safety checks use this, so anything that cannot be read as a number counts as too large.
    """
    text = argument.strip().upper()
    if text in _KEYWORD_VALUES:
        return _KEYWORD_VALUES[text]
    try:
        value = float(text)
    except ValueError:
        return math.inf
    return value if math.isfinite(value) else math.inf


def raise_queued_errors(instrument: Any, context: str) -> None:
    """Drain the instrument's SCPI error queue; raise :class:`InstrumentError` if it held any.

    Also a synchronisation point: the query is answered only after every earlier command of
    the same connection has been processed.
    """
    errors = instrument.check_errors()
    if errors:
        described = "; ".join(describe_error(error) for error in errors)
        raise InstrumentError(f"{instrument.name}: {context}: {described}")


def describe_error(error: Any) -> str:
    """``[-222.0, '"Data out of range"']`` -> ``-222 Data out of range``."""
    parts = [str(part) for part in error] if isinstance(error, (list, tuple)) else [str(error)]
    try:
        code = str(int(float(parts[0])))
    except ValueError:
        code = parts[0]
    message = ",".join(parts[1:]).strip().strip('"')
    return f"{code} {message}".strip()

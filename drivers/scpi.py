"""Small SCPI helpers shared by the SMU and array-controller drivers."""

from __future__ import annotations

import re
from typing import Any

from labctl.core.errors import InstrumentError


def segment_headers(command: str) -> list[tuple[tuple[str, ...], str]]:
    """Split a compound SCPI command into ``(possible absolute headers, argument)`` pairs.

    SCPI resolves a header without a leading ``:`` relative to the previous command's path
    (``:SOUR:VOLT:RANG 2;LEV 5`` sets ``:SOUR:VOLT:LEV``), and an instrument that does not
    find it there tries the root. An interlock must not be fooled by either reading, so both
    are returned (upper case, no leading colon, keyword suffix digits kept).
    """
    result: list[tuple[tuple[str, ...], str]] = []
    paths: set[str] = set()
    for index, segment in enumerate(command.split(";")):
        text = segment.strip()
        if not text:
            continue
        header, _, argument = text.replace("\t", " ").partition(" ")
        header = header.strip().upper()
        rooted = header.startswith(":") or header.lstrip(":").startswith("*") or index == 0
        bare = header.lstrip(":")
        candidates = {bare}
        if not rooted:
            candidates |= {f"{path}:{bare}" for path in paths if path}
        result.append((tuple(sorted(candidates)), argument.strip()))
        if not bare.startswith("*"):
            paths = {c.rstrip("?").rpartition(":")[0] for c in candidates}
    return result


_ERROR_ENTRY = re.compile(r'^\s*([+-]?\d+)\s*,\s*"(.*)"\s*$')
#: More entries than any SCPI error queue holds: a longer drain is a garbled conversation.
_MAX_QUEUE_ENTRIES = 64


def parse_error_entry(reply: str, name: str) -> tuple[int, str]:
    """``-222,"Data out of range"`` -> (-222, "Data out of range"); InstrumentError if the
    reply is not an error-queue entry (a garbled reply must not pass as ``no error``)."""
    match = _ERROR_ENTRY.match(reply)
    if match is None:
        raise InstrumentError(f"{name}: garbled reply to SYST:ERR?: {reply[:60]!r}")
    return int(match.group(1)), match.group(2)


def strict_check_errors(instrument: Any) -> list[list[Any]]:
    """Drain the SCPI error queue like PyMeasure's ``check_errors`` (entries as
    ``[float(code), '"message"']``), refusing replies that are not queue entries."""
    errors: list[list[Any]] = []
    for _ in range(_MAX_QUEUE_ENTRIES):
        code, message = parse_error_entry(str(instrument.ask("SYST:ERR?")).strip(),
                                          instrument.name)
        if code == 0:
            return errors
        errors.append([float(code), f'"{message}"'])
    raise InstrumentError(f"{instrument.name}: error queue does not empty")


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

"""Small SCPI helpers shared by the SMU and array-controller drivers."""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

from labctl.core.errors import InstrumentError

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


@lru_cache(maxsize=256)
def _pattern_nodes(pattern: str) -> tuple[tuple[str, str, bool], ...]:
    """``"[:SOURce]:VOLTage"`` -> ((short, long, optional), ...)."""
    nodes = []
    for match in re.finditer(r"(\[?):?(\*?[A-Za-z][A-Za-z]*)\]?", pattern):
        word = match.group(2)
        short = "".join(c for c in word if not c.islower())
        nodes.append((short, word.upper(), bool(match.group(1))))
    return tuple(nodes)


def header_matches(pattern: str, header: str) -> bool:
    """Whether absolute ``header`` (``SOUR1:VOLT:AMPL``) is an instance of SCPI ``pattern``
    (``:SOURce:VOLTage[:LEVel][:IMMediate][:AMPLitude]``): short or long forms, optional
    keywords, numeric keyword suffixes, any case; a trailing ``?`` never matches a setting."""
    if header.endswith("?"):
        return False
    words = tuple(re.sub(r"\d+$", "", w) for w in header.upper().lstrip(":").split(":"))
    return _match_nodes(_pattern_nodes(pattern), words)


def _match_nodes(nodes: tuple[tuple[str, str, bool], ...], words: tuple[str, ...]) -> bool:
    if not nodes:
        return not words
    (short, long, optional), rest = nodes[0], nodes[1:]
    if words and words[0] in (short, long) and _match_nodes(rest, words[1:]):
        return True
    return optional and _match_nodes(rest, words)


def any_header_matches(pattern: str, headers: tuple[str, ...]) -> bool:
    return any(header_matches(pattern, header) for header in headers)


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

"""SCPI for the emulated instruments: message parsing, header matching, error queue.

What real SCPI instruments do and drivers rely on:

* a line is a program message of commands separated by ``;`` (outside quotes); empty commands
  (a trailing ``;``) are ignored;
* a header is ``:``-separated keywords, each in its short form (the upper-case letters of
  ``NPLCycles``: ``NPLC``) or long form, case-insensitive; keywords in ``[...]`` are optional;
  a leading ``:`` (also before a common command, ``:*CLS``) starts at the root; a header without
  one is tried relative to the previous command's path first, then from the root;
* query responses of one line are joined by ``;`` into one reply line;
* an error pushes ``<code>,"<message>"`` onto the error queue, read with ``SYST:ERR?``; the rest
  of that line is not executed and a failed query sends no reply (the client times out, as with
  a real instrument);
* IEEE 488.2 status reporting: an error also sets its class bit in the Standard Event Status
  Register (``*ESR?``, read and cleared: command error -1xx bit 5, execution error -2xx bit 4,
  device-specific -3xx bit 3, query error -4xx bit 2), ``*OPC`` sets bit 0 and a power-on bit 7;
  the status byte (``*STB?``) carries EAV (bit 2, error queue not empty), ESB (bit 5, an event
  enabled by ``*ESE``) and MSS (bit 6, a summary bit enabled by ``*SRE``); ``*CLS`` clears the
  error queue and the event registers, not the enable registers.
"""

from __future__ import annotations

import logging
import math
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from threading import RLock
from typing import TypeVar

from labctl.sim.servers.base import LineInstrument

log = logging.getLogger(__name__)

T = TypeVar("T")

NO_ERROR = 0
MISSING_PARAMETER = -109
PARAMETER_NOT_ALLOWED = -108
UNDEFINED_HEADER = -113
SETTINGS_CONFLICT = -221
DATA_OUT_OF_RANGE = -222
TOO_MUCH_DATA = -223
ILLEGAL_PARAMETER_VALUE = -224
DEVICE_SPECIFIC_ERROR = -300
QUEUE_OVERFLOW = -350

ERROR_MESSAGES: dict[int, str] = {
    NO_ERROR: "No error",
    PARAMETER_NOT_ALLOWED: "Parameter not allowed",
    MISSING_PARAMETER: "Missing parameter",
    UNDEFINED_HEADER: "Undefined header",
    SETTINGS_CONFLICT: "Settings conflict",
    DATA_OUT_OF_RANGE: "Data out of range",
    TOO_MUCH_DATA: "Too much data",
    ILLEGAL_PARAMETER_VALUE: "Illegal parameter value",
    DEVICE_SPECIFIC_ERROR: "Device-specific error",
    QUEUE_OVERFLOW: "Queue overflow",
}


#: Standard Event Status Register bits (IEEE 488.2 11.5.1).
EVENT_OPERATION_COMPLETE = 1
EVENT_QUERY_ERROR = 4
EVENT_DEVICE_ERROR = 8
EVENT_EXECUTION_ERROR = 16
EVENT_COMMAND_ERROR = 32
EVENT_POWER_ON = 128
#: Status byte bits (IEEE 488.2 11.2, SCPI 1999 9.1).
STB_EAV = 4
STB_ESB = 32
STB_MSS = 64


def event_bit_of(code: int) -> int:
    """The Standard Event Status Register bit an error sets, by its SCPI code class."""
    if -199 <= code <= -100:
        return EVENT_COMMAND_ERROR
    if -299 <= code <= -200:
        return EVENT_EXECUTION_ERROR
    if -499 <= code <= -400:
        return EVENT_QUERY_ERROR
    return EVENT_DEVICE_ERROR if code else 0


class ScpiError(Exception):
    """A command the instrument refuses; becomes one entry of its error queue."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(self.entry())

    def entry(self) -> str:
        """The error queue entry, e.g. ``-222,"Data out of range; ROW 0 ... 195"``."""
        message = ERROR_MESSAGES.get(self.code, "Error")
        if self.detail:
            # Quotes would end the string early and commas split it in PyMeasure's parser; a
            # reply is printable ASCII whatever bytes the offending command held.
            detail = "".join(c if " " <= c <= "~" else "?" for c in self.detail)
            message += "; " + detail.replace('"', "'").replace(",", " ")
        return f'{self.code},"{message}"'


class ErrorQueue:
    """First-in first-out error queue with the SCPI overflow rule (last entry becomes -350)."""

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = capacity
        self._entries: deque[str] = deque()

    def push(self, error: ScpiError) -> None:
        if len(self._entries) >= self.capacity:
            self._entries[-1] = ScpiError(QUEUE_OVERFLOW).entry()
            return
        self._entries.append(error.entry())

    def pop(self) -> str:
        """The oldest entry, or ``0,"No error"``."""
        return self._entries.popleft() if self._entries else f'0,"{ERROR_MESSAGES[NO_ERROR]}"'

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# --------------------------------------------------------------------------- message parsing


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split at ``separator`` except inside single- or double-quoted strings."""
    parts: list[str] = []
    start = 0
    quote = ""
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == separator:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


_HEADER = re.compile(r"^:?(\*[A-Za-z]+|[A-Za-z][A-Za-z0-9_]*(:[A-Za-z][A-Za-z0-9_]*)*)\??$")


@dataclass(frozen=True)
class Command:
    """One parsed command of a program message."""

    words: tuple[str, ...]  # upper-case keywords
    is_query: bool
    rooted: bool  # leading ':' (or a common command)
    params: list[str]


def parse_command(text: str) -> Command | None:
    """Parse one command; None for an empty one; ScpiError(-113) for a malformed header."""
    text = text.strip()
    if not text:
        return None
    header, _, rest = text.partition(" ")
    if "\t" in header:
        header, _, tail = header.partition("\t")
        rest = tail + " " + rest
    if not _HEADER.match(header):
        raise ScpiError(UNDEFINED_HEADER, header[:40])
    is_query = header.endswith("?")
    header = header.rstrip("?")
    rooted = header.startswith(":") or header.lstrip(":").startswith("*")
    words = tuple(header.lstrip(":").upper().split(":"))
    return Command(words=words, is_query=is_query, rooted=rooted, params=split_params(rest))


def split_params(text: str) -> list[str]:
    """Comma-separated parameters (quotes kept); an empty one between commas is missing."""
    if not text.strip():
        return []
    params = [part.strip() for part in split_outside_quotes(text, ",")]
    if any(not part for part in params):
        raise ScpiError(MISSING_PARAMETER, "empty parameter")
    return params


# --------------------------------------------------------------------------- header matching


@dataclass(frozen=True)
class _Keyword:
    short: str
    long: str
    optional: bool

    def matches(self, word: str) -> bool:
        return word == self.short or word == self.long


_PATTERN_NODE = re.compile(r"(\[?):?(\*?[A-Za-z][A-Za-z0-9]*)\]?")


@lru_cache(maxsize=512)
def compile_header(pattern: str) -> tuple[_Keyword, ...]:
    """``"[:SENSe]:CURRent:NPLCycles"`` -> keywords with short/long forms and optionality."""
    nodes = []
    for match in _PATTERN_NODE.finditer(pattern):
        word = match.group(2)
        short = "".join(c for c in word if not c.islower())
        nodes.append(_Keyword(short=short, long=word.upper(), optional=bool(match.group(1))))
    return tuple(nodes)


def _matches(nodes: tuple[_Keyword, ...], words: tuple[str, ...]) -> bool:
    if not nodes:
        return not words
    head, tail = nodes[0], nodes[1:]
    if words and head.matches(words[0]) and _matches(tail, words[1:]):
        return True
    return head.optional and _matches(tail, words)


SetHandler = Callable[[list[str]], None]
QueryHandler = Callable[[list[str]], str]


@dataclass(frozen=True)
class _Entry:
    nodes: tuple[_Keyword, ...]
    on_set: SetHandler | None
    on_query: QueryHandler | None


class CommandTable:
    """Header patterns and their set/query handlers."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._cache: dict[tuple[tuple[str, ...], bool], _Entry | None] = {}

    def add(
        self,
        pattern: str,
        on_set: SetHandler | None = None,
        on_query: QueryHandler | None = None,
    ) -> None:
        self._entries.append(_Entry(compile_header(pattern), on_set, on_query))
        self._cache.clear()

    def find(self, words: tuple[str, ...], is_query: bool) -> _Entry | None:
        key = (words, is_query)
        if key not in self._cache:
            self._cache[key] = next(
                (
                    entry
                    for entry in self._entries
                    if (entry.on_query if is_query else entry.on_set) is not None
                    and _matches(entry.nodes, words)
                ),
                None,
            )
        return self._cache[key]


# --------------------------------------------------------------------------- parameters


def expect_params(params: list[str], minimum: int, maximum: int | None = None) -> None:
    """-109 for too few parameters, -108 for too many."""
    maximum = minimum if maximum is None else maximum
    if len(params) < minimum:
        raise ScpiError(MISSING_PARAMETER)
    if len(params) > maximum:
        raise ScpiError(PARAMETER_NOT_ALLOWED, f"at most {maximum}")


def unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    return token


def parse_float(
    token: str,
    minimum: float | None = None,
    maximum: float | None = None,
    named: Mapping[str, float] | None = None,
) -> float:
    """A finite number within [minimum, maximum] (-222 outside, -224 not a number).

    ``named`` maps keywords such as MIN/MAX/DEF to values.
    """
    upper = token.upper()
    if named:
        for name, value in named.items():
            if _matches(compile_header(name), (upper,)):
                return value
    try:
        value = float(token)
    except ValueError:
        raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"not a number: {token[:40]}") from None
    if not math.isfinite(value):
        raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"not a finite number: {token[:40]}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ScpiError(DATA_OUT_OF_RANGE, f"{value:g} not in {minimum} ... {maximum}")
    return value


def parse_int(token: str, minimum: int, maximum: int) -> int:
    """An integer (written as such or as an integral float) within [minimum, maximum]."""
    value = parse_float(token)
    if value != int(value):
        raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"not an integer: {token[:40]}")
    if not minimum <= value <= maximum:
        raise ScpiError(DATA_OUT_OF_RANGE, f"{int(value)} not in {minimum} ... {maximum}")
    return int(value)


def parse_bool(token: str) -> bool:
    upper = token.upper()
    if upper in ("ON", "1"):
        return True
    if upper in ("OFF", "0"):
        return False
    raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"expected ON|OFF|1|0, got {token[:40]}")


def parse_choice(token: str, choices: Mapping[str, T]) -> T:
    """Match ``token`` (quotes removed) against keyword patterns such as ``"VOLTage"``."""
    words = tuple(unquote(token).upper().split(":"))
    for pattern, value in choices.items():
        if _matches(compile_header(pattern), words):
            return value
    raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"unexpected {token[:40]}")


def parse_bits(token: str, length: int) -> list[bool]:
    """A string of ``0``/``1`` characters of exactly ``length`` bits (1 = AP / input on)."""
    bits = unquote(token)
    if bits.strip("01"):
        raise ScpiError(ILLEGAL_PARAMETER_VALUE, "bits must be 0 or 1")
    if len(bits) != length:
        raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"expected {length} bits, got {len(bits)}")
    return [bit == "1" for bit in bits]


def format_float(value: float) -> str:
    """Numbers as the 2450 writes them in ASCII: 7 significant digits."""
    return f"{value:.6E}"


def format_bool(value: bool) -> str:
    return "1" if value else "0"


# --------------------------------------------------------------------------- instrument base


class ScpiInstrument(LineInstrument):
    """Base of the SCPI instruments: dispatches program messages through a command table.

    Subclasses register their commands on :attr:`table` and implement :meth:`identity` and
    :meth:`reset`. The IEEE 488.2 common commands, the error queue and the status byte are
    provided here; :meth:`summary_bits` adds an instrument's own status-byte bits.
    """

    def __init__(self, lock: RLock) -> None:
        self.lock = lock
        self.errors = ErrorQueue()
        self.table = CommandTable()
        self._status_enable = 0
        self._event_enable = 0
        #: Standard Event Status Register (``*ESR?``); power-on sets PON.
        self.event_status = EVENT_POWER_ON
        self._register_common_commands()

    def identity(self) -> str:
        raise NotImplementedError

    def reset(self) -> None:
        """*RST: defaults of this instrument (the error queue is kept)."""
        raise NotImplementedError

    def power_cycle(self) -> None:
        """Restart: *RST defaults, empty error queue, IEEE 488.2 registers cleared, PON set."""
        self.reset()
        self.clear_status()
        self._status_enable = 0
        self._event_enable = 0
        self.event_status = EVENT_POWER_ON

    def push_error(self, error: ScpiError) -> None:
        """Queue an error and set its class bit in the Standard Event Status Register."""
        self.errors.push(error)
        self.event_status |= event_bit_of(error.code)

    def clear_status(self) -> None:
        """*CLS: error queue and event registers cleared (subclasses clear their own too)."""
        self.errors.clear()
        self.event_status = 0

    def preset_status(self) -> None:
        """:STAT:PRES: the device-specific enable registers to their preset (none here)."""

    def summary_bits(self) -> int:
        """Status-byte bits of the instrument's own registers (MSB, QSB, MAV, OSB); none here."""
        return 0

    def status_byte(self) -> int:
        """*STB?: EAV, ESB and the subclass's summary bits, with MSS over those enabled by *SRE."""
        byte = self.summary_bits() & ~STB_MSS
        if len(self.errors):
            byte |= STB_EAV
        if self.event_status & self._event_enable:
            byte |= STB_ESB
        if byte & self._status_enable:
            byte |= STB_MSS
        return byte

    def _read_event_status(self) -> str:
        value, self.event_status = self.event_status, 0
        return str(value)

    def _operation_complete(self) -> None:
        self.event_status |= EVENT_OPERATION_COMPLETE

    def handle_line(self, line: str) -> str | None:
        responses: list[str] = []
        path: tuple[str, ...] = ()
        for text in split_outside_quotes(line, ";"):
            try:
                command = parse_command(text)
                if command is None:
                    continue
                response, resolved = self._execute(command, path)
                if response is not None:
                    responses.append(response)
                if not resolved[0].startswith("*"):
                    path = resolved[:-1]
            except ScpiError as error:
                self.push_error(error)
                break
            except Exception as exc:  # an emulator bug: report it like a device error
                log.exception("unexpected error executing %r", text[:200])
                self.push_error(ScpiError(DEVICE_SPECIFIC_ERROR, type(exc).__name__))
                break
        return ";".join(responses) if responses else None

    def handle_overlong_line(self) -> str | None:
        self.push_error(ScpiError(TOO_MUCH_DATA, "line too long"))
        return None

    def _execute(
        self, command: Command, path: tuple[str, ...]
    ) -> tuple[str | None, tuple[str, ...]]:
        """Run one command; return its response (queries) and the header it resolved to."""
        candidates = [command.words]
        if not command.rooted and path:
            candidates.insert(0, path + command.words)
        for words in candidates:
            entry = self.table.find(words, command.is_query)
            if entry is None:
                continue
            if entry.on_query is not None and command.is_query:
                return entry.on_query(command.params), words
            if entry.on_set is not None and not command.is_query:
                entry.on_set(command.params)
                return None, words
        header = ":".join(command.words) + ("?" if command.is_query else "")
        raise ScpiError(UNDEFINED_HEADER, header[:40])

    def _register_common_commands(self) -> None:
        add = self.table.add
        add("*IDN", on_query=self._no_params(self.identity))
        add("*RST", on_set=self._no_params(self.reset))
        add("*CLS", on_set=self._no_params(self.clear_status))
        # Every emulated operation completes before the next command is parsed.
        add("*OPC", self._no_params(self._operation_complete), self._no_params(lambda: "1"))
        add("*WAI", on_set=self._no_params(lambda: None))
        add("*TST", on_query=self._no_params(lambda: "0"))
        add("*ESR", on_query=self._no_params(self._read_event_status))
        add("*STB", on_query=self._no_params(lambda: str(self.status_byte())))
        add("*SRE", self._set_sre, self._no_params(lambda: str(self._status_enable)))
        add("*ESE", self._set_ese, self._no_params(lambda: str(self._event_enable)))
        add("SYSTem:ERRor[:NEXT]", on_query=self._no_params(self.errors.pop))
        add("SYSTem:ERRor:COUNt", on_query=self._no_params(lambda: str(len(self.errors))))
        add("SYSTem:CLEar", on_set=self._no_params(self.errors.clear))
        add("STATus:PRESet", on_set=self._no_params(self.preset_status))

    def _set_sre(self, params: list[str]) -> None:
        expect_params(params, 1)
        self._status_enable = parse_int(params[0], 0, 255)

    def _set_ese(self, params: list[str]) -> None:
        expect_params(params, 1)
        self._event_enable = parse_int(params[0], 0, 255)

    @staticmethod
    def _no_params(action: Callable[[], T]) -> Callable[[list[str]], T]:
        """Wrap a parameterless action as a handler that refuses parameters (-108)."""

        def handler(params: list[str]) -> T:
            expect_params(params, 0)
            return action()

        return handler

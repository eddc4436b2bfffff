"""Allow-lists of the commands each instrument may receive from labctl.

An interlock that looks for dangerous commands misses the ones nobody thought of (source lists,
sweeps, scripts, a newline that starts a second command). So each driver lists what it may
send: SCPI header patterns (short or long forms, any case, optional keywords, numeric
suffixes), each with a check of its argument, and everything else is refused before a byte is
sent. Messages must be printable ASCII: a control character (``\\n``, ``\\r``, ``\\x00``...)
would end the message early on the wire and smuggle in a command nobody checked.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from labctl.core.errors import SafetyError

#: What an argument check gets: the driver (for its limits and state) and the argument text.
#: It returns ``None`` if the argument is acceptable, else the reason it is refused.
ArgumentCheck = Callable[[Any, str], "str | None"]

_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_BITS = re.compile(r"^[01]+$")
_WORD = re.compile(r"(\[?):?(\*?[A-Za-z][A-Za-z]*)\]?")


def refuse_control_characters(message: str, name: str) -> None:
    """SafetyError unless ``message`` is printable ASCII (no control or non-ASCII character)."""
    if not _PRINTABLE.match(message):
        bad = next(c for c in message if not "\x20" <= c <= "\x7e")
        raise SafetyError(f"{name}: message refused: it holds the character {bad!r} "
                          f"({message[:60]!r}); nothing was sent")


class TextOnly:
    """Driver mixin: raw bytes and binary blocks bypass the text checks, so they are refused."""

    name: str

    def write_bytes(self, content: bytes, **kwargs: Any) -> None:
        raise SafetyError(f"{self.name}: raw bytes are not sent (only checked text commands); "
                          "nothing was sent")

    def write_binary_values(self, command: str, values: Any, *args: Any, **kwargs: Any) -> None:
        raise SafetyError(f"{self.name}: binary blocks are not sent (only checked text "
                          "commands); nothing was sent")


@dataclass(frozen=True)
class Allowed:
    """One allowed command: a SCPI header pattern, query or setting, and its argument check.

    ``tag`` names what the driver's stateful interlocks must know about it (``"level"``,
    ``"output"``, ...); an empty tag means the command needs no further check.
    """

    pattern: str
    check: ArgumentCheck
    query: bool = False
    tag: str = ""


def _header_regex(pattern: str) -> re.Pattern[str]:
    """``"[:SENSe]:FUNCtion"`` -> a regex over ``":" + header`` (upper case, suffixes kept)."""
    parts = []
    for match in _WORD.finditer(pattern):
        word = match.group(2)
        short = "".join(c for c in word if not c.islower())
        forms = "|".join(sorted({re.escape(short), re.escape(word.upper())}))
        node = f":(?:{forms})" + ("" if word.startswith("*") else r"\d*")
        parts.append(f"(?:{node})?" if match.group(1) else node)
    return re.compile("".join(parts))


class AllowList:
    """The commands one driver may send; :meth:`check` refuses anything else."""

    def __init__(self, who: str, commands: Iterable[Allowed]) -> None:
        self.who = who
        self.commands = tuple(commands)
        self._compiled = [(_header_regex(c.pattern), c) for c in self.commands]

    def match(self, header: str) -> Allowed | None:
        """The allowed command ``header`` (absolute, upper case, no leading colon) is, if any."""
        query = header.endswith("?")
        path = ":" + (header[:-1] if query else header).lstrip(":")
        for regex, command in self._compiled:
            if command.query == query and regex.fullmatch(path):
                return command
        return None

    def check(self, driver: Any, headers: tuple[str, ...], argument: str) -> set[str]:
        """Refuse (SafetyError) unless every reading of the header is allowed with this
        argument; return the tags of the commands it is."""
        tags = set()
        for header in headers:
            command = self.match(header)
            if command is None:
                raise SafetyError(f"{driver.name}: {header} refused: not on the {self.who}'s "
                                  "allow-list; nothing was sent")
            problem = command.check(driver, argument)
            if problem is not None:
                raise SafetyError(f"{driver.name}: {header} {argument!r} refused: {problem}; "
                                  "nothing was sent")
            tags.add(command.tag)
        return tags


# --- argument checks ------------------------------------------------------------------------------
def no_argument(driver: Any, argument: str) -> str | None:
    return None if not argument else "takes no argument"


def any_argument(driver: Any, argument: str) -> str | None:
    """For queries: they change nothing on the instrument."""
    return None


def choice(*words: str) -> ArgumentCheck:
    """One of ``words`` (any case, optionally quoted)."""
    allowed = {w.upper() for w in words}

    def check(driver: Any, argument: str) -> str | None:
        text = argument.strip().strip("'\"").upper()
        return None if text in allowed else f"must be one of {', '.join(sorted(allowed))}"

    return check


def parse_strict_number(text: str) -> float | None:
    """A plain finite decimal number, or ``None`` (keywords such as MAX, units, NaN, inf)."""
    text = text.strip()
    if not _NUMBER.match(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def number(bounds: Callable[[Any], tuple[float, float]], unit: str) -> ArgumentCheck:
    """A plain number within ``bounds(driver)`` (inclusive)."""

    def check(driver: Any, argument: str) -> str | None:
        value = parse_strict_number(argument)
        low, high = bounds(driver)
        if value is None:
            return "not a plain number"
        if value > high:
            return f"{value:g} {unit} exceeds the limit of {high:g} {unit}"
        if value < low:
            return f"{value:g} {unit} is below the minimum of {low:g} {unit}"
        return None

    return check


def integer(low: int, high: int) -> ArgumentCheck:
    def check(driver: Any, argument: str) -> str | None:
        text = argument.strip()
        if not _INTEGER.match(text) or not low <= int(text) <= high:
            return f"must be an integer from {low} to {high}"
        return None

    return check


def index_pairs(high: int, max_pairs: int) -> ArgumentCheck:
    """A comma-separated list of 1 ... ``max_pairs`` pairs of integers in 0 ... ``high``."""

    def check(driver: Any, argument: str) -> str | None:
        values = [v.strip() for v in argument.split(",")]
        if len(values) % 2 or not 2 <= len(values) <= 2 * max_pairs:
            return f"must list 1 ... {max_pairs} pairs of indices"
        if not all(_INTEGER.match(v) and 0 <= int(v) <= high for v in values):
            return f"indices must be integers from 0 to {high}"
        return None

    return check


def bits(driver: Any, argument: str) -> str | None:
    return None if _BITS.match(argument.strip()) else "must be a string of 0 and 1"


def numbers_list(bounds: Callable[[Any], tuple[float, float]], unit: str,
                 max_points: int) -> ArgumentCheck:
    """A comma-separated list of 1 ... ``max_points`` plain numbers, each within bounds."""
    single = number(bounds, unit)

    def check(driver: Any, argument: str) -> str | None:
        values = argument.split(",")
        if not argument.strip() or len(values) > max_points:
            return f"must list 1 ... {max_points} values"
        for value in values:
            problem = single(driver, value)
            if problem is not None:
                return problem
        return None

    return check

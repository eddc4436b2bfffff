"""The emulated 2450's reading buffers: ``defbuffer1``, ``defbuffer2`` and user buffers.

Each buffer keeps, per reading, the reading, the source value, the relative time and the units,
so ``:TRACe:DATA?`` can return the element lists of the 2450 reference manual (section 6,
``:TRACe:DATA?``): ``READing``, ``SOURce``, ``RELative``, ``UNIT``, ``SOURUNIT``, ``STATus``,
``SOURSTATus``, ``SEConds`` and ``FRACtional``. The fill mode follows ``:TRACe:FILL:MODE``:
``CONTinuous`` (circular, oldest reading dropped) or ``ONCE`` (readings after the buffer is
full are not stored).
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray

from labctl.sim.servers.scpi import ILLEGAL_PARAMETER_VALUE, ScpiError, parse_choice, unquote

FloatArray = NDArray[np.float64]

DEFAULT_BUFFERS = ("defbuffer1", "defbuffer2")
DEFAULT_BUFFER_CAPACITY = 100_000
#: Largest buffer the emulator allocates (the instrument's limit depends on the buffer style
#: and on memory shared by all buffers; 100 000 covers a 196 x 100 tile several times).
MAX_BUFFER_CAPACITY = 100_000

#: Element keywords of ``:TRACe:DATA?``, ``:READ?`` and ``:FETCh?`` -> internal names.
ELEMENTS = {
    "READing": "READ",
    "SOURce": "SOUR",
    "RELative": "REL",
    "UNIT": "UNIT",
    "SOURUNIT": "SOURUNIT",
    "STATus": "STAT",
    "SOURSTATus": "SOURSTAT",
    "SEConds": "SEC",
    "FRACtional": "FRAC",
}
#: Elements the manual documents but the emulator does not model (refused with -224).
UNMODELLED_ELEMENTS = ("DATE", "FORMatted", "SOURFORMatted", "TIME", "TSTamp", "EXTra")


class ReadingBuffer:
    """A bounded reading buffer: per reading the value, source value, relative time, units."""

    def __init__(self, capacity: int = DEFAULT_BUFFER_CAPACITY, fill_once: bool = False) -> None:
        self.capacity = capacity
        self.fill_once = fill_once
        self.clear()

    def clear(self) -> None:
        self.readings: FloatArray = np.empty(0)
        self.sources: FloatArray = np.empty(0)
        self.times_s: FloatArray = np.empty(0)
        self.units: list[str] = []
        self.source_units: list[str] = []
        self._clock_s = 0.0
        self._started_at_s = time.time()

    def __len__(self) -> int:
        return int(self.readings.size)

    @property
    def full(self) -> bool:
        return len(self) >= self.capacity

    def append(
        self,
        readings: FloatArray,
        sources: FloatArray,
        period_s: float,
        unit: str,
        source_unit: str,
    ) -> None:
        """Store readings taken ``period_s`` apart (``sources`` per reading or one value)."""
        n = readings.size
        sources = np.broadcast_to(np.asarray(sources, dtype=np.float64), (n,))
        times = self._clock_s + period_s * np.arange(n)
        self._clock_s += period_s * n
        if self.fill_once:
            room = max(self.capacity - len(self), 0)
            readings, sources, times = readings[:room], sources[:room], times[:room]
            n = min(n, room)
        keep = self.capacity
        self.readings = np.concatenate([self.readings, readings])[-keep:]
        self.sources = np.concatenate([self.sources, sources])[-keep:]
        self.times_s = np.concatenate([self.times_s, times])[-keep:]
        self.units = (self.units + [unit] * n)[-keep:]
        self.source_units = (self.source_units + [source_unit] * n)[-keep:]

    def column(self, element: str, start: int, end: int) -> list[str]:
        """One element of readings start ... end (1-based, inclusive) as reply fields."""
        window = slice(start - 1, end)
        if element in ("UNIT", "SOURUNIT"):
            units = self.units if element == "UNIT" else self.source_units
            return units[window]
        if element in ("STAT", "SOURSTAT"):
            return ["0"] * (end - start + 1)  # no status flags are modelled
        if element in ("SEC", "FRAC"):
            absolute = self._started_at_s + self.times_s[window]
            if element == "SEC":
                return [str(int(t)) for t in absolute.tolist()]
            return [f"{t - int(t):.9f}" for t in absolute.tolist()]
        values = {"READ": self.readings, "SOUR": self.sources, "REL": self.times_s}[element]
        return [f"{value:.6E}" for value in values[window].tolist()]

    def format_points(self, start: int, end: int, elements: list[str]) -> str:
        """Readings start ... end, each as its elements in order, all comma-separated."""
        columns = [self.column(name, start, end) for name in elements]
        return ",".join(field for point in zip(*columns, strict=True) for field in point)


class BufferSet:
    """The instrument's named buffers; the two default buffers always exist."""

    def __init__(self) -> None:
        self.buffers: dict[str, ReadingBuffer] = {name: ReadingBuffer() for name in DEFAULT_BUFFERS}

    def get(self, token: str | None) -> ReadingBuffer:
        """The buffer a (quoted) name parameter designates; ``defbuffer1`` when omitted."""
        return self.buffers[self.name(token)]

    def name(self, token: str | None) -> str:
        if token is None:
            return DEFAULT_BUFFERS[0]
        name = unquote(token)
        key = name.lower() if name.lower() in DEFAULT_BUFFERS else name
        if key not in self.buffers:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"no buffer named {name[:40]}")
        return key

    def make(self, token: str, capacity: int) -> None:
        name = unquote(token)
        if not name or name.lower() in DEFAULT_BUFFERS or name in self.buffers:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"buffer {name[:40]} exists")
        if not name[0].isalpha() or not name.replace("_", "").isalnum() or len(name) > 31:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"buffer name {name[:40]}")
        self.buffers[name] = ReadingBuffer(capacity)

    def delete(self, token: str) -> None:
        name = self.name(token)
        if name in DEFAULT_BUFFERS:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"{name} cannot be deleted")
        del self.buffers[name]

    def resize(self, token: str | None, capacity: int) -> None:
        """``:TRACe:POINts``: a new size clears the buffer (fill mode kept)."""
        name = self.name(token)
        self.buffers[name] = ReadingBuffer(capacity, self.buffers[name].fill_once)


def parse_elements(params: list[str]) -> list[str]:
    """Buffer element keywords -> internal names; READ when none is given."""
    elements = []
    for token in params:
        for unmodelled in UNMODELLED_ELEMENTS:
            try:
                parse_choice(token, {unmodelled: True})
            except ScpiError:
                continue
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"element {token[:20]} is not emulated")
        elements.append(parse_choice(token, ELEMENTS))
    return elements or ["READ"]

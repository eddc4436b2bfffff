"""Console progress of a sweep on stderr: dies done, cells per second, time left.

On a terminal one line is redrawn in place (at most a few times per second); otherwise (a pipe,
a log collector, a test) one plain line is printed per finished die, so nothing fills a log
with carriage returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from procedures.events import DIE_TOPIC
from procedures.timing import format_duration

_BAR_WIDTH = 24
_REDRAW_INTERVAL_S = 0.2


class SweepProgress:
    """Consumes the procedure's emitted records and shows the state of the run."""

    def __init__(
        self,
        stream: TextIO,
        total_dies: int,
        cells_per_die: int,
        *,
        interactive: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.total_dies = total_dies
        self.cells_per_die = cells_per_die
        self.interactive = stream.isatty() if interactive is None else interactive
        self._clock = clock
        self._started_s = clock()
        self._last_draw_s = -float("inf")
        self.dies_done = 0
        self.dies_to_measure = total_dies
        self.cells_measured = 0
        self.cells_in_current_die = 0
        self.current_die: str | None = None
        self.percent = 0.0

    # --- input ------------------------------------------------------------------------------
    def handle(self, topic: str, record: Any) -> None:
        """Feed one emitted (topic, record); redraws when something visible changed."""
        if topic == "progress":
            self.percent = float(record)
            self._draw()
        elif topic == "results" and isinstance(record, dict):
            cells = int(record.get("Cells", 0))
            self.cells_measured += cells
            self.cells_in_current_die += cells
            self._draw()
        elif topic == DIE_TOPIC and isinstance(record, dict):
            self._handle_die(record)

    def _handle_die(self, event: dict[str, Any]) -> None:
        status = event["status"]
        if status == "started":
            self.current_die = event["die"]
            self.cells_in_current_die = 0
            self._draw()
            return
        if status == "skipped":
            self.dies_to_measure -= 1
        elif status == "complete" and event.get("cells"):
            self.cells_per_die = int(event["cells"])  # the station's real die size
        self.dies_done += 1
        self.current_die = None
        self.cells_in_current_die = 0
        if self.interactive:
            self._draw(force=True)
        else:
            detail = f" ({event['reason']})" if event.get("reason") else ""
            print(f"[{self.dies_done}/{self.total_dies}] {event['die']} {status}{detail} | "
                  f"{self._rate_text()} | left {self._eta_text()}", file=self.stream, flush=True)

    # --- derived figures ----------------------------------------------------------------------
    def cells_per_second(self) -> float:
        elapsed_s = self._clock() - self._started_s
        return self.cells_measured / elapsed_s if elapsed_s > 0 else 0.0

    def seconds_left(self) -> float:
        """Remaining cells of the dies still to measure, at the rate seen so far (inf if none)."""
        measured_dies = self.dies_done - (self.total_dies - self.dies_to_measure)
        remaining_dies = max(0, self.dies_to_measure - measured_dies)
        remaining_cells = max(0, remaining_dies * self.cells_per_die - self.cells_in_current_die)
        if remaining_cells == 0:
            return 0.0
        rate = self.cells_per_second()
        return remaining_cells / rate if rate > 0 else float("inf")

    def _rate_text(self) -> str:
        return f"{self.cells_per_second():.0f} cells/s"

    def _eta_text(self) -> str:
        return format_duration(self.seconds_left())

    def line(self) -> str:
        """The one-line progress display."""
        filled = round(_BAR_WIDTH * self.dies_done / self.total_dies) if self.total_dies else 0
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        where = f" | {self.current_die}" if self.current_die else ""
        return (f"[{bar}] {self.dies_done}/{self.total_dies} dies | {self._rate_text()} | "
                f"left {self._eta_text()}{where}")

    # --- output -----------------------------------------------------------------------------
    def _draw(self, force: bool = False) -> None:
        if not self.interactive:
            return
        now_s = self._clock()
        if not force and now_s - self._last_draw_s < _REDRAW_INTERVAL_S:
            return
        self._last_draw_s = now_s
        self.stream.write("\r\x1b[2K" + self.line())
        self.stream.flush()

    def close(self) -> None:
        """End the in-place line so later output starts on a fresh line."""
        if self.interactive:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()

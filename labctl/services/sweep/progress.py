"""Console progress of a sweep on stderr: dies done, cells per second, time left.

On a terminal a rich progress bar is redrawn in place, on the console that log records also go
through (:mod:`labctl.services.console`), so a warning is printed above the bar instead of into
it. Elsewhere (a pipe, a log collector, a test) one plain line is printed per finished die. A
die that fails or is aborted is reported once, by this display, with its reason: the same
outcome logged by the procedure and the sweep log is kept off the console (it stays in the log
file).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, TextIO

from labctl.services.console import console_for, hidden_on_console, plain_line
from labctl.services.console import interactive as is_terminal
from procedures.events import DIE_TOPIC
from procedures.timing import format_duration

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

_BAR_WIDTH = 24


def die_outcome_record(record: logging.LogRecord) -> bool:
    """A log record saying how a die ended, which the progress display reports itself."""
    if record.levelno < logging.WARNING:
        return False
    if record.name == "procedures.die_run":
        return record.msg == "%s failed: %s"
    if record.name == "labctl.sweep":
        text = record.getMessage()
        return text.startswith("die_") and (": failed" in text or ": aborted" in text)
    return False


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
        self.interactive = is_terminal(stream) if interactive is None else interactive
        self._clock = clock
        self._started_s = clock()
        self.dies_done = 0
        self.dies_to_measure = total_dies
        self.cells_measured = 0
        self.cells_in_current_die = 0
        self.current_die: str | None = None
        self.percent = 0.0
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._hidden = ExitStack()
        self._hidden.enter_context(hidden_on_console(die_outcome_record))
        if self.interactive:
            self._start_bar()

    def _start_bar(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("sweep"), BarColumn(bar_width=_BAR_WIDTH), MofNCompleteColumn(),
            TextColumn("dies | {task.fields[rate]} | left {task.fields[left]}"
                       "{task.fields[where]}"),
            console=console_for(self.stream),
        )
        self._task = self._progress.add_task("sweep", total=self.total_dies, rate="",
                                             left="unknown", where="")
        self._progress.start()

    # --- input ------------------------------------------------------------------------------
    def handle(self, topic: str, record: Any) -> None:
        """Feed one emitted (topic, record); the display follows."""
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
        detail = f" ({event['reason']})" if event.get("reason") else ""
        if self._progress is not None:
            if status in ("failed", "aborted"):  # stays above the bar, once
                self._progress.console.print(f"{event['die']} {status}{detail}", markup=False,
                                             highlight=False)
            self._draw()
        else:
            plain_line(f"[{self.dies_done}/{self.total_dies}] {event['die']} {status}{detail} | "
                       f"{self._rate_text()} | left {self._eta_text()}", self.stream)

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
        """The state of the run in one line (what the bar shows)."""
        where = f" | {self.current_die}" if self.current_die else ""
        return (f"{self.dies_done}/{self.total_dies} dies | {self._rate_text()} | "
                f"left {self._eta_text()}{where}")

    # --- output -----------------------------------------------------------------------------
    def _draw(self) -> None:
        if self._progress is None or self._task is None:
            return
        where = f" | {self.current_die}" if self.current_die else ""
        self._progress.update(self._task, completed=self.dies_done, rate=self._rate_text(),
                              left=self._eta_text(), where=where)

    def close(self) -> None:
        """Stop the live display (its last state stays on screen) and the console filter."""
        if self._progress is not None:
            self._draw()
            self._progress.stop()
            self._progress = None
        self._hidden.close()

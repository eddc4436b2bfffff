"""The console of a labctl run: log lines and progress on stderr that never collide.

On a terminal, log records go through rich's :class:`~rich.logging.RichHandler` and progress
through :class:`~rich.progress.Progress`, both on the one stderr :class:`~rich.console.Console`,
so a log line is printed above the live progress display instead of into it. Anywhere else (a
pipe, a log collector, a test) nothing is redrawn: log records are plain lines and progress is
one plain line per finished item, plus a "still running" line every :data:`HEARTBEAT_S` seconds
of a step that reports nothing, so no step is silent for long.

rich is imported only when a console is used (``labctl --help`` stays fast).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

#: Seconds between "still running" lines of a silent step when stderr is not a terminal.
HEARTBEAT_S = 10.0
#: Format of plain (non-terminal) log lines and of the log file.
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_console: Console | None = None
_print_lock = threading.Lock()
#: The console handlers :func:`logging_to_console` installed (not the log file's).
_console_handlers: list[logging.Handler] = []


def interactive(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default stderr) is a terminal, so live redrawing is wanted."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or file-like stream
        return False


def stderr_console() -> Console:
    """The process's one stderr console (it follows ``sys.stderr`` when that is replaced)."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(stderr=True)
    return _console


def console_for(stream: TextIO) -> Console:
    """The shared stderr console for stderr, else a console writing to ``stream``."""
    if stream is sys.stderr:
        return stderr_console()
    from rich.console import Console

    return Console(file=stream, force_terminal=interactive(stream))


def plain_line(text: str, stream: TextIO | None = None) -> None:
    """Print one line on stderr (or ``stream``), whole, even with a heartbeat thread running."""
    with _print_lock:
        print(text, file=sys.stderr if stream is None else stream, flush=True)


@contextmanager
def logging_to_console(verbose: bool = False, log_file: Path | None = None) -> Iterator[None]:
    """Route log records to the console (warnings and up; everything with ``verbose``) and,
    with ``log_file``, every record to that file; the handlers are removed on exit."""
    root = logging.getLogger()
    handlers: list[logging.Handler] = []
    console_level = logging.DEBUG if verbose else logging.WARNING
    if interactive():
        from rich.logging import RichHandler

        console_handler: logging.Handler = RichHandler(
            console=stderr_console(), show_path=False, rich_tracebacks=False, markup=False
        )
        console_handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        console_handler = logging.StreamHandler(sys.stderr)
        console_handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    console_handler.setLevel(console_level)
    handlers.append(console_handler)
    _console_handlers.append(console_handler)
    if log_file is not None:
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
        file_handler.setLevel(logging.DEBUG)
        handlers.append(file_handler)
    previous_level = root.level
    root.setLevel(logging.DEBUG if (verbose or log_file is not None) else logging.WARNING)
    quiet = logging.getLogger("pymeasure")
    previous_quiet = quiet.level
    if not verbose:  # PyMeasure warns about its optional extras (ZMQ) on import
        quiet.setLevel(logging.ERROR)
    for handler in handlers:
        root.addHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        _console_handlers.remove(console_handler)
        root.setLevel(previous_level)
        quiet.setLevel(previous_quiet)


@contextmanager
def hidden_on_console(hide: Callable[[logging.LogRecord], bool]) -> Iterator[None]:
    """Keep log records for which ``hide`` is true off the console (the log file still gets
    them): for what a progress display already reports, so that it is reported once."""

    def keep(record: logging.LogRecord) -> bool:
        return not hide(record)

    handlers = list(_console_handlers)
    for handler in handlers:
        handler.addFilter(keep)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(keep)


class Steps:
    """A command's long steps on stderr, each shown while it runs.

    ``step(text)`` starts the next step (the previous one is done); ``bar(text, total)`` starts a
    step with a known number of items and ``advance()`` counts them. On a terminal the current
    step is one live line (spinner, elapsed time, bar when the total is known); elsewhere each
    step is one line with the time since the start, items are counted on their own lines, and
    a step silent for :data:`HEARTBEAT_S` gets a "still running" line.
    """

    def __init__(self, stream: TextIO | None = None, *,
                 clock: Callable[[], float] = time.perf_counter,
                 heartbeat_s: float = HEARTBEAT_S) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.live = interactive(self.stream)
        self._clock = clock
        self._started_s = clock()
        self._step_started_s = self._started_s
        self._last_output_s = self._started_s
        self._text = ""
        self._total: int | None = None
        self._done = 0
        self._heartbeat_s = heartbeat_s
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- lifetime ------------------------------------------------------------------------------
    def __enter__(self) -> Steps:
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                MofNCompleteColumn(), TimeElapsedColumn(),
                console=console_for(self.stream), transient=False,
            )
            self._progress.start()
        elif self._heartbeat_s > 0:
            self._thread = threading.Thread(target=self._beat, name="labctl-heartbeat",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._progress is not None:
            self._finish_task()
            self._progress.stop()

    # ---- input ---------------------------------------------------------------------------------
    def step(self, text: str) -> None:
        """Start the step ``text`` (its length unknown)."""
        self._start(text, None)

    def bar(self, text: str, total: int) -> None:
        """Start the step ``text`` of ``total`` items."""
        self._start(text, total)

    def advance(self, note: str | None = None, n: int = 1) -> None:
        """``n`` more items of the current step are done (``note`` says which)."""
        self._done += n
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)
            return
        count = f"[{self._done}/{self._total}] " if self._total else ""
        self._say(f"  {count}{note or self._text}")

    def log(self, text: str) -> None:
        """A line that stays (above the live line on a terminal)."""
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            self._say(text)

    # ---- output --------------------------------------------------------------------------------
    def _start(self, text: str, total: int | None) -> None:
        now = self._clock()
        self._text, self._total, self._done = text, total, 0
        self._step_started_s = now
        if self._progress is not None:
            self._finish_task()
            self._task = self._progress.add_task(text, total=total)
            return
        self._say(f"[{now - self._started_s:6.1f} s] {text}")

    def _finish_task(self) -> None:
        """The finished step leaves the live area as one line that stays (the live area shows
        only the current step, however many steps a command has)."""
        assert self._progress is not None
        if self._task is None:
            return
        task = next(t for t in self._progress.tasks if t.id == self._task)
        count = f" {task.completed:.0f}/{task.total:.0f}" if task.total else ""
        self._progress.remove_task(self._task)
        self._task = None
        elapsed_s = self._clock() - self._step_started_s
        self._progress.console.print(f"  {task.description}{count} ({elapsed_s:.1f} s)",
                                     markup=False, highlight=False)

    def _say(self, text: str) -> None:
        self._last_output_s = self._clock()
        plain_line(text, self.stream)

    def _beat(self) -> None:
        while not self._stop.wait(min(1.0, self._heartbeat_s)):
            now = self._clock()
            if self._text and now - self._last_output_s >= self._heartbeat_s:
                self._say(f"  ... still {self._text} ({now - self._step_started_s:.0f} s)")


def format_percent(fraction: Any, digits: int = 2) -> str:
    """An error or yield fraction as the console shows it: ``0.0825`` -> ``8.25 %``."""
    if fraction is None:
        return "-"
    return f"{100 * float(fraction):.{digits}f} %"

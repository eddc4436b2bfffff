"""The sweep's log file beside the HDF5 file (``WAFER.h5.log``), appended to on every run.

It records what an operator wants the morning after: the plan, each die's start and outcome,
every retry and failure reason, and the final summary, with timestamps.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from procedures.events import DIE_TOPIC

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: Loggers whose INFO messages go to the file (labctl, the procedures and the drivers).
LOGGED_PACKAGES = ("labctl", "procedures", "drivers")

log = logging.getLogger("labctl.sweep")


def log_path_for(data_path: Path) -> Path:
    """``WAFER.h5`` -> ``WAFER.h5.log``."""
    return data_path.with_name(data_path.name + ".log")


class SweepLogFile:
    """A file handler on labctl's loggers for the duration of a sweep (a context manager)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handler: logging.FileHandler | None = None
        self._levels: dict[str, int] = {}
        self._console_levels: dict[logging.Handler, int] = {}

    def __enter__(self) -> SweepLogFile:
        handler = logging.FileHandler(self.path, mode="a", encoding="utf-8")
        handler.setLevel(logging.INFO)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        # Enabling INFO on labctl's loggers must not flood the console: handlers already on the
        # root logger keep showing what they showed before (the root level, WARNING by default).
        root = logging.getLogger()
        for console in root.handlers:
            if console.level == logging.NOTSET:
                self._console_levels[console] = console.level
                console.setLevel(root.level or logging.WARNING)
        for name in LOGGED_PACKAGES:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            if logger.getEffectiveLevel() > logging.INFO:
                logger.setLevel(logging.INFO)
            logger.addHandler(handler)
        self._handler = handler
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._handler is None:
            return
        for name, level in self._levels.items():
            logger = logging.getLogger(name)
            logger.removeHandler(self._handler)
            logger.setLevel(level)
        for console, level in self._console_levels.items():
            console.setLevel(level)
        self._console_levels.clear()
        self._handler.close()
        self._handler = None

    @staticmethod
    def handle(topic: str, record: Any) -> None:
        """Listener: one line per die event."""
        if topic != DIE_TOPIC:
            return
        status = record["status"]
        text = f"{record['die']} ({record['index'] + 1}/{record['total']}): {status}"
        if status == "complete" and record["yield_fraction"] is not None:
            counts = ", ".join(f"{name} {n}" for name, n in record["defects"].items())
            text += f", yield {100 * record['yield_fraction']:.2f}% ({counts})"
        if record.get("reason"):
            text += f": {record['reason']}"
        level = logging.WARNING if status in ("failed", "aborted") else logging.INFO
        log.log(level, text)

"""Console progress: dies done, cells per second and time left from the emitted records."""

from __future__ import annotations

import contextlib
import io
import logging

import pytest

from labctl.services.sweep.progress import SweepProgress
from procedures.events import DieEvent


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def die_event(name: str, status: str, index: int, reason: str | None = None) -> DieEvent:
    return {"die": name, "status": status, "index": index, "total": 3, "cells": 0,  # type: ignore[typeddict-item]
            "yield_fraction": None, "defects": {}, "reason": reason}


def test_rate_and_time_left_follow_the_measured_cells() -> None:
    clock = FakeClock()
    stream = io.StringIO()
    progress = SweepProgress(stream, total_dies=3, cells_per_die=100, interactive=False,
                             clock=clock)
    progress.handle("die", die_event("die_03_00", "skipped", 0))
    progress.handle("die", die_event("die_04_00", "started", 1))
    clock.now_s = 10.0
    progress.handle("results", {"Cells": 50})
    # 50 cells in 10 s; 50 left of this die + 100 of the last one.
    assert progress.cells_per_second() == 5.0
    assert progress.seconds_left() == 30.0
    progress.handle("die", die_event("die_04_00", "complete", 1))
    progress.handle("die", die_event("die_05_00", "started", 2))
    clock.now_s = 20.0
    progress.handle("results", {"Cells": 50})
    progress.handle("results", {"Cells": 50})
    progress.handle("die", die_event("die_05_00", "failed", 2, reason="open contact"))
    assert progress.seconds_left() == 0.0
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[1/3] die_03_00 skipped")
    assert lines[1].startswith("[2/3] die_04_00 complete")
    assert lines[2].startswith("[3/3] die_05_00 failed (open contact)")
    assert progress.cells_per_second() == 7.5  # 150 cells in 20 s
    assert "8 cells/s" in lines[2]


def test_interactive_mode_draws_a_bar_and_reports_a_failure_once() -> None:
    clock = FakeClock()
    stream = io.StringIO()
    progress = SweepProgress(stream, total_dies=2, cells_per_die=10, interactive=True,
                             clock=clock)
    progress.handle("die", die_event("die_03_00", "started", 0))
    clock.now_s = 1.0
    progress.handle("results", {"Cells": 10})
    progress.handle("die", die_event("die_03_00", "complete", 0))
    progress.handle("die", die_event("die_04_00", "started", 1))
    progress.handle("die", die_event("die_04_00", "failed", 1, reason="open contact"))
    progress.close()
    text = stream.getvalue()
    assert text.count("die_04_00 failed (open contact)") == 1
    assert "2/2" in text and "dies" in text
    assert "2/2 dies" in progress.line()


def test_die_outcomes_logged_elsewhere_stay_off_the_console(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The procedure's and the sweep log's "failed" lines are hidden from the console handler
    while the display runs (it reports the failure itself); other warnings are not."""
    from labctl.services.console import logging_to_console

    err = io.StringIO()
    with contextlib.redirect_stderr(err), logging_to_console():
        progress = SweepProgress(io.StringIO(), total_dies=1, cells_per_die=10,
                                 interactive=False)
        logging.getLogger("procedures.die_run").warning("%s failed: %s", "die_03_00", "x")
        logging.getLogger("labctl.sweep").warning("die_03_00 (1/1): failed: x")
        logging.getLogger("procedures.measurement").warning("contact lost")
        progress.close()
        logging.getLogger("procedures.die_run").warning("%s failed: %s", "die_04_00", "y")
    lines = err.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == ["contact lost", "die_04_00 failed: y"]

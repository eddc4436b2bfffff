"""The console off a terminal: one line per step and item, and no step silent for long."""

from __future__ import annotations

import io
import time

from labctl.services.console import Steps, format_percent


def test_steps_and_items_are_plain_lines() -> None:
    stream = io.StringIO()
    with Steps(stream, heartbeat_s=0) as steps:
        steps.step("reading the file")
        steps.bar("drawing die figures", 2)
        steps.advance("die_02_00")
        steps.advance("die_03_00")
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("] reading the file")
    assert lines[1].endswith("] drawing die figures")
    assert lines[2:] == ["  [1/2] die_02_00", "  [2/2] die_03_00"]
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()


def test_a_silent_step_gets_still_running_lines() -> None:
    stream = io.StringIO()
    with Steps(stream, heartbeat_s=0.05) as steps:
        steps.step("training ideal")
        deadline = time.monotonic() + 10.0
        while "still" not in stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert "  ... still training ideal (" in stream.getvalue()


def test_figures_are_percentages() -> None:
    assert format_percent(0.0825) == "8.25 %"
    assert format_percent(0.5, 1) == "50.0 %"
    assert format_percent(None) == "-"

"""End-of-sweep summary: per-die yield, defect counts, failed dies with reasons."""

from __future__ import annotations

from labctl.services.sweep.summary import SweepSummary


def event(die: str, status: str, cells: int = 0, yield_fraction: float | None = None,
          defects: dict[str, int] | None = None, reason: str | None = None) -> dict:
    return {"die": die, "status": status, "index": 0, "total": 3, "cells": cells,
            "yield_fraction": yield_fraction, "defects": defects or {}, "reason": reason}


def test_summary_lists_dies_totals_and_failures() -> None:
    summary = SweepSummary()
    summary.handle("die", event("die_03_00", "started"))
    summary.handle("die", event("die_03_00", "complete", 1000, 0.99,
                                {"short": 3, "open": 2, "stuck_p": 4, "stuck_ap": 1}))
    summary.handle("die", event("die_04_00", "skipped", 1000, 0.97,
                                {"short": 10, "open": 10, "stuck_p": 5, "stuck_ap": 5}))
    summary.handle("die", event("die_05_00", "failed", reason="contact reads open everywhere"))
    summary.handle("results", {"Cells": 5})
    assert summary.counts() == {"complete": 1, "failed": 1, "skipped": 1, "aborted": 0}
    text = summary.text()
    lines = text.splitlines()
    assert lines[2].split() == ["die_03_00", "complete", "99.00%", "3", "2", "4", "1"]
    assert lines[4].split()[:3] == ["die_05_00", "failed", "-"]
    assert "98.00% of 2000 cells" in text
    assert "1 complete, 1 failed, 1 skipped" in text
    assert "die_05_00: failed: contact reads open everywhere" in text

"""The kill -9 acceptance at reduced size: `labctl sweep` killed with SIGKILL at random moments
over four dies, `--resume` after each kill: every file opens, complete dies never change and are
never measured again, and the final file holds exactly the data of an uninterrupted run, with no
temporary file left. benchmarks/bench_reliability.py does 20 kills across a whole wafer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.reliability_kill import complete_dies, kill_and_resume, timed_reference

DIES = "die_02_00,die_03_00,die_04_00,die_05_00"


@pytest.mark.slow
def test_killed_and_resumed_sweeps_equal_an_uninterrupted_one(tmp_path: Path) -> None:
    (tmp_path / "reference").mkdir()
    (tmp_path / "killed").mkdir()
    reference_path = tmp_path / "reference" / "wafer.h5"
    appeared_s, total_s = timed_reference(reference_path, seed=3, dies=DIES, cycles=1)
    reference = complete_dies(reference_path)
    assert len(reference) == 4
    report = kill_and_resume(
        tmp_path / "killed" / "wafer.h5", reference, seed=3, dies=DIES, cycles=1, kills=3,
        max_delay_s=appeared_s + 0.8 * (total_s - appeared_s), rng=np.random.default_rng(5),
    )
    assert report.kills == 3
    assert report.accepted, report

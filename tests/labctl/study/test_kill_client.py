"""A study killed with kill -9 loses only its point in flight: the next run computes the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from study_helpers import QUICK_GRID, REPO, read_table

from labctl.cli.main import main


@pytest.mark.slow
def test_a_killed_study_resumes_with_the_points_it_had_not_finished(tmp_path, capsys):
    out = tmp_path / "study"
    command = [sys.executable, "-m", "labctl.cli.main", "study", "run", "--grid",
               str(QUICK_GRID), "--quick", "--out", str(out), "--workers", "1", "--no-progress"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if (out / "results.csv").exists() and len(read_table(out)) >= 1:
                break
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=10)
    finished = {row["point_id"] for row in read_table(out)}
    assert 1 <= len(finished) < 4

    assert main(["study", "run", "--grid", str(QUICK_GRID), "--quick", "--out", str(out),
                 "--workers", "1", "--no-progress"]) == 0
    assert f"{4 - len(finished)} point(s) computed (0 failed), {len(finished)} already" in \
        capsys.readouterr().out
    ids = [row["point_id"] for row in read_table(out)]
    assert len(ids) == 4 and len(set(ids)) == 4 and finished <= set(ids)

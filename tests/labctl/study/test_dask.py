"""Dask runs: a LocalCluster, a scheduler and workers started as separate processes, and a worker
killed with kill -9 in the middle of a study."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from study_helpers import (
    CALLS_ENV,
    QUICK_GRID,
    comparable,
    free_port,
    read_table,
    slow_fake_point,
    worker_env,
)

from labctl.cli.main import main
from labctl.study.grid import load_grid, parse_grid
from labctl.study.runner import run_study

pytestmark = pytest.mark.slow
DASK = Path(sys.executable).parent / "dask"


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> dict[str, dict[str, str]]:
    """The quick grid run serially (the real point function)."""
    out = tmp_path_factory.mktemp("serial")
    outcome = run_study(load_grid(QUICK_GRID, quick=True), out, workers=1, show_progress=False)
    assert (outcome.ran, outcome.failed) == (4, 0)
    return comparable(out)


def test_local_cluster_of_two_workers_gives_the_serial_metrics(tmp_path, serial):
    outcome = run_study(load_grid(QUICK_GRID, quick=True), tmp_path, workers=2,
                        show_progress=False)
    assert (outcome.ran, outcome.failed) == (4, 0)
    assert comparable(tmp_path) == serial
    assert all(float(v) > 0 for row in read_table(tmp_path) for k, v in row.items()
               if k == "peak_rss_MiB")


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(DASK), *args], env=worker_env(), cwd=tmp_cwd(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def tmp_cwd() -> str:
    return str(Path(__file__).resolve().parents[3])


def test_scheduler_and_workers_started_by_hand_give_the_serial_metrics(tmp_path, serial):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = [_start(["scheduler", "--host", "127.0.0.1", "--port", str(port),
                         "--no-dashboard"])]
    try:
        for _ in range(2):
            processes.append(_start(["worker", address, "--nthreads", "1", "--nworkers", "1",
                                     "--no-dashboard", "--host", "127.0.0.1"]))
        _wait_for_workers(address, 2)
        status = main(["study", "run", "--grid", str(QUICK_GRID), "--quick", "--out",
                       str(tmp_path), "--scheduler", address, "--no-progress"])
        assert status == 0
        assert comparable(tmp_path) == serial
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for_workers(address: str, n: int, timeout_s: float = 45.0) -> None:
    from distributed import Client

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with Client(address, timeout=5) as client:
                client.wait_for_workers(n, timeout=max(1.0, deadline - time.monotonic()))
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_a_worker_killed_mid_study_loses_no_point_and_doubles_none(tmp_path, monkeypatch):
    from distributed import Client, LocalCluster

    calls = tmp_path / "calls.txt"
    monkeypatch.setenv(CALLS_ENV, str(calls))  # inherited by the worker processes

    grid = parse_grid({"study": {"modes": ["unaware"]}, "axes": {"wafer_seed": list(range(8))}})
    killed: list[int] = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        victim = next(iter(client.run(os.getpid).values()))

        def kill_after_first_rows() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                path = tmp_path / "results.csv"
                if path.exists() and len(path.read_text().splitlines()) >= 3:  # header + 2
                    os.kill(victim, signal.SIGKILL)
                    killed.append(victim)
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_after_first_rows)
        killer.start()
        outcome = run_study(grid, tmp_path, scheduler=cluster.scheduler_address,
                            point_fn=slow_fake_point, show_progress=False)
        killer.join()
    assert killed == [victim]
    assert outcome.failed == 0
    ids = [row["point_id"] for row in read_table(tmp_path)]
    assert sorted(ids) == sorted(p.point_id for p in grid.points())
    assert {row["status"] for row in read_table(tmp_path)} == {"ok"}
    started = calls.read_text().split()
    assert len(started) > len(ids)  # the killed worker's point was started again elsewhere

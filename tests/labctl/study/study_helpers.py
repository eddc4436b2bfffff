"""Shared pieces of the study tests: cheap point functions (importable by Dask workers, which
get the test process's sys.path) and the quick grid's comparable columns."""

from __future__ import annotations

import csv
import os
import socket
import time
from pathlib import Path
from typing import Any

from labctl.study.grid import PointSpec
from labctl.study.point import metric_columns

REPO = Path(__file__).resolve().parents[3]
QUICK_GRID = REPO / "data" / "studies" / "quick.toml"

#: Columns that differ between runs of the same point by nature (timing, memory, host).
VOLATILE = ("wall_s", "peak_rss_MiB", "worker")


def fake_metrics(spec: PointSpec) -> dict[str, Any]:
    """Deterministic metrics from the point's seeds, in the real table's columns."""
    base = 10.0 + spec.wafer_seed + 0.5 * spec.train_seed
    metrics: dict[str, Any] = {c: base for c in metric_columns(spec.modes)}
    metrics.update(wall_s=0.0, peak_rss_MiB=0.0, worker=socket.gethostname())
    return metrics


#: Environment variable naming a file where slow_fake_point notes each start (one line per call).
CALLS_ENV = "LABCTL_STUDY_TEST_CALLS"


def slow_fake_point(spec: PointSpec) -> dict[str, Any]:
    """A point that takes a second, long enough to be killed in the middle of."""
    calls = os.environ.get(CALLS_ENV)
    if calls:
        with open(calls, "a") as fh:
            fh.write(spec.point_id + "\n")
    time.sleep(1.0)
    return fake_metrics(spec)


def failing_fake_point(spec: PointSpec) -> dict[str, Any]:
    if spec.wafer_seed == 1:
        raise RuntimeError("no wafer for seed 1")
    return fake_metrics(spec)


def refusing_point(spec: PointSpec) -> dict[str, Any]:
    raise AssertionError(f"point {spec.point_id} computed again")


def read_table(folder: Path) -> list[dict[str, str]]:
    with (folder / "results.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def comparable(folder: Path) -> dict[str, dict[str, str]]:
    """point id -> every column but the volatile ones."""
    return {
        row["point_id"]: {k: v for k, v in row.items() if k not in VOLATILE}
        for row in read_table(folder)
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_env() -> dict[str, str]:
    """Environment of a `dask worker` process: the repository importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env

"""Study throughput: points per hour on a LocalCluster of one worker and of two, in one run.

The same grid (the quick preset, three modes, one point per wafer seed) runs twice into fresh
folders, once on one worker and once on two (one thread each). Each cluster is started and its
workers have imported labctl before the clock starts, so the figure is the steady rate of
points; cluster start-up is reported beside it. Parallel efficiency = rate(2) / (2 x rate(1)).
Peak memory is the largest peak resident set a worker reported for its points.

    python -m benchmarks.bench_study [--points N] [--preset quick|study] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from labctl.study.grid import parse_grid
from labctl.study.runner import run_study
from labctl.study.table import read_rows


def _warm_up() -> str:
    import labctl.study.point  # noqa: F401  # torch and the training code, once per worker

    return "ready"


def measure(n_workers: int, points: int, preset: str, folder: Path) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    grid = parse_grid(
        {
            "study": {"modes": ["unaware", "statistics-aware", "hardware-aware"]},
            "training": {"preset": preset},
            "axes": {"wafer_seed": list(range(points))},
        }
    )
    started = time.perf_counter()
    cluster_options: dict[str, Any] = {"threads_per_worker": 1, "processes": True,
                                       "dashboard_address": None,
                                       "silence_logs": logging.ERROR}
    with LocalCluster(n_workers=n_workers, **cluster_options) as cluster, \
            Client(cluster) as client:
        client.wait_for_workers(n_workers)
        client.run(_warm_up)
        startup_s = time.perf_counter() - started
        outcome = run_study(grid, folder, scheduler=cluster.scheduler_address,
                            show_progress=False)
    _, rows = read_rows(folder / "results.csv")
    if outcome.failed or len(rows) != points:
        raise RuntimeError(f"{outcome.failed} of {points} points failed: see {folder}")
    return {
        "workers": n_workers,
        "points": points,
        "wall_s": round(outcome.wall_s, 2),
        "points_per_hour": round(3600 * points / outcome.wall_s, 1),
        "startup_s": round(startup_s, 2),
        "mean_point_s": round(sum(float(r["wall_s"]) for r in rows) / len(rows), 2),
        "peak_rss_MiB": round(max(float(r["peak_rss_MiB"]) for r in rows), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=8, help="points per run (default 8)")
    parser.add_argument("--preset", default="quick", help="training preset (default quick)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-study-") as tmp:
        one = measure(1, args.points, args.preset, Path(tmp) / "one")
        two = measure(2, args.points, args.preset, Path(tmp) / "two")
    efficiency = two["points_per_hour"] / (2 * one["points_per_hour"])
    figures = {
        "preset": args.preset,
        "one_worker": one,
        "two_workers": two,
        "parallel_efficiency": round(efficiency, 3),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"study throughput, preset {args.preset}, {args.points} points per run, "
          f"{os.cpu_count()} CPUs, load average {load_before:.1f} before")
    print("| workers | points/hour | wall (s) | mean point (s) | cluster start (s) "
          "| peak RSS (MiB) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in (one, two):
        print(f"| {r['workers']} | {r['points_per_hour']:.0f} | {r['wall_s']:.1f} | "
              f"{r['mean_point_s']:.2f} | {r['startup_s']:.1f} | {r['peak_rss_MiB']:.0f} |")
    print(f"parallel efficiency (two workers): {100 * efficiency:.0f} %")


if __name__ == "__main__":
    main()

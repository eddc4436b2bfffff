"""One study point on a worker: make the wafer, train the modes, evaluate, return metrics.

Runs with one torch thread, in a scratch folder that is removed afterwards (a point's weights
are not kept: the study wants numbers). The ideal weights depend only on the training settings,
not on the wafer, so a worker keeps the last few it trained in memory and reuses them for later
points with the same settings; reused weights are the very bytes the training wrote, so the
metrics do not depend on which worker ran which point.
"""

from __future__ import annotations

import json
import logging
import resource
import socket
import sys
import tempfile
import time
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labctl.core.errors import LabctlError
from labctl.study.grid import PointSpec
from labctl.study.settings import resolve_training
from labctl.study.sim_values import make_sim_params
from labctl.study.wafer import MEASURED_SOURCE, TRUTH_SOURCE, measured_wafer, truth_wafer
from labctl.training.pipeline import PipelineOptions, TrainingRun, weight_path

log = logging.getLogger(__name__)

#: Statistics of a mode's per-die error, in percent, in column order.
ERROR_STATS = ("mean", "median", "std", "min", "max")
#: Gaps to the baseline, in percentage points.
GAP_STATS = ("gap", "gap_median")

#: Ideal weight files kept per worker process (options JSON -> file bytes).
_IDEAL_CACHE: OrderedDict[str, bytes] = OrderedDict()
_IDEAL_CACHE_SIZE = 8


def metric_columns(modes: tuple[str, ...]) -> list[str]:
    """The table's metric columns for these modes (all floats)."""
    columns = ["baseline_pct", "n_dies", "n_skipped_dies"]
    for mode in modes:
        columns += [f"{mode}.{s}_pct" for s in ERROR_STATS]
        columns += [f"{mode}.{s}_pct" for s in GAP_STATS]
    return [*columns, "wall_s", "peak_rss_MiB"]


def run_point(spec: PointSpec) -> dict[str, Any]:
    """The point's metrics (floats) and the worker that computed them; raises on failure."""
    started = time.perf_counter()
    torch.set_num_threads(1)
    params = make_sim_params(spec.sim)
    training = resolve_training(spec.preset, spec.training, spec.train_seed)
    with tempfile.TemporaryDirectory(prefix=f"labctl-study-{spec.point_id}-") as tmp:
        scratch = Path(tmp)
        if spec.measured:
            wafer = measured_wafer(spec.wafer_seed, params, training.dies, scratch)
        else:
            wafer = truth_wafer(spec.wafer_seed, params, training.dies)
        run = TrainingRun(wafer, scratch / "training", training.options, progress=log.debug)
        cache_key = _ideal_key(training.options)
        _restore_ideal(cache_key, run.out_dir)
        summary = run.run(list(spec.modes))
        _remember_ideal(cache_key, run.out_dir)
    metrics: dict[str, Any] = {
        "baseline_pct": 100.0 * float(summary["baseline_error"]),
        "n_dies": float(len(wafer.dies)),
        "n_skipped_dies": float(len(wafer.skipped)),
    }
    for mode in spec.modes:
        metrics.update(_mode_metrics(mode, summary, metrics["baseline_pct"]))
    metrics["wall_s"] = time.perf_counter() - started
    metrics["peak_rss_MiB"] = peak_rss_MiB()
    metrics["worker"] = socket.gethostname()
    metrics["map_source"] = MEASURED_SOURCE if spec.measured else TRUTH_SOURCE
    return metrics


def peak_rss_MiB() -> float:
    """This process's peak resident memory so far (ru_maxrss: KiB on Linux, bytes on macOS);
    on a worker that ran several points it bounds each of them from above."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def _mode_metrics(mode: str, summary: dict[str, Any], baseline_pct: float) -> dict[str, float]:
    try:
        per_die = summary["modes"][mode]["dies"]["per_die"]
    except (KeyError, TypeError) as exc:
        raise LabctlError(f"the training summary has no per-die errors for {mode}") from exc
    errors = 100.0 * np.asarray(list(per_die.values()), dtype=np.float64)
    stats = {
        "mean": float(errors.mean()),
        "median": float(np.median(errors)),
        "std": float(errors.std()),
        "min": float(errors.min()),
        "max": float(errors.max()),
    }
    stats["gap"] = stats["mean"] - baseline_pct
    stats["gap_median"] = stats["median"] - baseline_pct
    return {f"{mode}.{name}_pct": value for name, value in stats.items()}


def _ideal_key(options: PipelineOptions) -> str:
    return json.dumps(asdict(options), sort_keys=True, default=str)


def _restore_ideal(key: str, out_dir: Path) -> None:
    data = _IDEAL_CACHE.get(key)
    if data is not None:
        path = weight_path(out_dir, "ideal")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        _IDEAL_CACHE.move_to_end(key)


def _remember_ideal(key: str, out_dir: Path) -> None:
    path = weight_path(out_dir, "ideal")
    if key in _IDEAL_CACHE or not path.is_file():
        return
    _IDEAL_CACHE[key] = path.read_bytes()
    while len(_IDEAL_CACHE) > _IDEAL_CACHE_SIZE:
        _IDEAL_CACHE.popitem(last=False)

"""Training benchmarks, measured side by side in one run:

1. Evaluation of one weight set on N virtual dies (default 1000) drawn from the default
   simulated wafer's statistics, on the 10 000 MNIST test images: batched (`die_errors`, all
   dies' tensors at once) against a per-die loop (`die_errors_loop`) on the same drawn dies,
   and against this machine's fp32 matrix-product peak measured in the same run: torch.mm of
   large square matrices, as many as make up the dense formulation's FLOPs, so that the peak
   run lasts as long as a dense evaluation at peak would and meets the same load; rounds of
   GEMM and batched evaluation alternate, best of each. The ratio of the batched time to that
   peak-equivalent time at most 1.0 means faster than any dense evaluation could be.
   Then both again while a busy-loop subprocess occupies one core (labctl's OpenMP thread
   policy, labctl/core/thread_policy.py, is what keeps the batched path ahead there).
   Drawing the dies is timed separately.
2. One epoch (60 000 images) of statistics-aware training against one ideal epoch.

    python -m benchmarks.bench_training [--dies N] [--seed N] [--threads N] [--no-load] [--json]
"""

from __future__ import annotations

# First: labctl sets its OpenMP thread policy, which has to precede the loading of torch.
import labctl  # noqa: F401  # isort: skip

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from labctl.core.thread_policy import wait_policy_in_effect
from labctl.sim.wafer import VirtualWafer
from labctl.testing.sim_maps import wafer_maps_from_truth
from labctl.training.crossbar import TileResponse
from labctl.training.evaluate import die_errors, die_errors_loop
from labctl.training.mnist import load_mnist
from labctl.training.network import BinaryNetwork
from labctl.training.sampler import DieSampler
from labctl.training.statistics import wafer_statistics
from labctl.training.train import TrainConfig, train_ideal, train_statistics_aware

#: Side of the square matrices whose product measures the fp32 peak.
PEAK_SIZE = 2048
#: Rounds of (GEMM peak, batched evaluation), each about a second for 1000 dies on a quiet
#: machine, and rounds of batched and loop alternated under load; best of each.
ROUNDS = 3
LOADED_ROUNDS = 2


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def gemm_seconds(flops: float, size: int) -> tuple[float, float]:
    """(wall, CPU) seconds torch.mm takes for `flops` FLOPs of (size x size) products (after a
    warm-up product), current threads; the GEMM rate is flops / wall."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator)
    b = torch.randn(size, size, generator=generator)
    out = torch.mm(a, b)  # warm-up: thread pool, packing buffers
    products = max(1, round(flops / (2.0 * size**3)))
    started, started_cpu = time.perf_counter(), time.process_time()
    for _ in range(products):
        torch.mm(a, b, out=out)
    scale = flops / (2.0 * size**3 * products)
    return (time.perf_counter() - started) * scale, (time.process_time() - started_cpu) * scale


def dense_flops(net: BinaryNetwork, n_dies: int, n_images: int) -> float:
    """Multiply-adds x 2 of evaluating every die on every image as dense matrix products."""
    macs = sum(a * b for a, b in zip(net.layer_sizes[:-1], net.layer_sizes[1:], strict=True))
    return 2.0 * n_dies * n_images * macs


@contextmanager
def busy_core() -> Iterator[int]:
    """A subprocess spinning on one core (the last one this process may use) while inside."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(spinner.pid, {max(os.sched_getaffinity(0))})
        time.sleep(0.2)  # let it start spinning
        yield spinner.pid
    finally:
        spinner.terminate()
        spinner.wait(timeout=10)


def draw(sampler: DieSampler, n_dies: int, chunk: int = 100) -> list[TileResponse]:
    """Responses of n_dies virtual dies, drawn in chunks."""
    parts = [sampler.sample_responses(min(chunk, n_dies - i)) for i in range(0, n_dies, chunk)]
    return [TileResponse.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]


def evaluation_figures(
    net: BinaryNetwork,
    x: torch.Tensor,
    y: torch.Tensor,
    responses: list[TileResponse],
    under_load: bool,
) -> dict[str, Any]:
    """Batched against the GEMM peak and against the loop, then (optionally) under load."""
    n_dies = responses[0].n_dies
    flops = dense_flops(net, n_dies, int(x.shape[0]))
    gemm_runs, batched_runs, cpu_ratios = [], [], []
    for _ in range(ROUNDS):
        gemm_s, gemm_cpu_s = gemm_seconds(flops, PEAK_SIZE)
        gemm_runs.append(gemm_s)
        started_cpu = time.process_time()
        seconds, batched = timed(lambda: die_errors(net, x, y, responses))
        batched_runs.append(seconds)
        cpu_ratios.append((time.process_time() - started_cpu) / gemm_cpu_s)
    peak_equivalent_s, batched_s = min(gemm_runs), min(batched_runs)
    peak = flops / peak_equivalent_s
    loop_s, looped = timed(lambda: die_errors_loop(net, x, y, responses))
    figures: dict[str, Any] = {
        "gemm_peak_gflops": round(peak / 1e9, 1),
        "dense_flop": flops,
        "peak_equivalent_s": round(peak_equivalent_s, 3),
        "batched_evaluation_s": round(batched_s, 3),
        "batched_over_peak_equivalent": round(batched_s / peak_equivalent_s, 2),
        # CPU seconds (all threads) of the evaluation over those of the same FLOPs of GEMM:
        # the work ratio, which other jobs on the machine disturb less than wall-clock time.
        "batched_cpu_over_gemm_cpu": round(float(np.median(cpu_ratios)), 2),
        "per_die_loop_s": round(loop_s, 3),
        "evaluation_speedup": round(loop_s / batched_s, 2),
        "identical_errors": bool(np.array_equal(batched[0], looped[0])),
        "max_loss_difference": float(np.max(np.abs(batched[1] - looped[1]))),
    }
    if under_load:
        # Alternated, best of each: the other jobs on a shared machine come and go.
        runs: dict[str, list[float]] = {"batched": [], "loop": []}
        with busy_core():
            for _ in range(LOADED_ROUNDS):
                seconds, load_batched = timed(lambda: die_errors(net, x, y, responses))
                runs["batched"].append(seconds)
                runs["loop"].append(timed(lambda: die_errors_loop(net, x, y, responses))[0])
        load_batched_s, load_loop_s = min(runs["batched"]), min(runs["loop"])
        figures |= {
            "loaded_batched_evaluation_s": round(load_batched_s, 3),
            "loaded_per_die_loop_s": round(load_loop_s, 3),
            "loaded_evaluation_speedup": round(load_loop_s / load_batched_s, 2),
            "loaded_identical_errors": bool(np.array_equal(load_batched[0], looped[0])),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dies", type=int, default=1000, help="virtual dies (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="simulated wafer seed")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--no-load", action="store_true", help="skip the run under load")
    parser.add_argument("--no-training", action="store_true", help="skip the training epochs")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_average = os.getloadavg()[0]

    data = load_mnist()
    stats = wafer_statistics(wafer_maps_from_truth(VirtualWafer(args.seed)))
    net = BinaryNetwork(generator=torch.Generator().manual_seed(0))  # speed needs no training
    x, y = data.test_x, data.test_y

    draw_s, responses = timed(lambda: draw(DieSampler(stats, seed=1), args.dies))
    figures: dict[str, Any] = {
        "virtual_dies": args.dies,
        "test_images": int(x.shape[0]),
        "threads": args.threads,
        "omp_wait_policy": wait_policy_in_effect() or "default (spinning)",
        "load_average_1min_at_start": round(load_average, 2),
        "drawing_dies_s": round(draw_s, 3),
    }
    figures |= evaluation_figures(net, x, y, responses, under_load=not args.no_load)
    if not args.no_training:
        config = TrainConfig(ideal_epochs=1, statistics_epochs=1, threads=args.threads)
        sizes = net.layer_sizes
        ideal_s, ideal = timed(lambda: train_ideal(data.train_x, data.train_y, config, sizes))
        stats_s, _ = timed(
            lambda: train_statistics_aware(
                data.train_x, data.train_y, config, DieSampler(stats, seed=2), ideal
            )
        )
        figures |= {
            "ideal_epoch_s": round(ideal_s, 3),
            "statistics_aware_epoch_s": round(stats_s, 3),
            "statistics_aware_epoch_ratio": round(stats_s / ideal_s, 2),
            "dies_per_step": config.dies_per_step,
            "batch_size": config.batch_size,
        }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print_figures(figures)


def print_figures(f: dict[str, Any]) -> None:
    print(
        f"evaluation of {f['virtual_dies']} virtual dies x {f['test_images']} test images "
        f"({f['threads']} threads, OMP_WAIT_POLICY {f['omp_wait_policy']}, "
        f"load average {f['load_average_1min_at_start']} at start):"
    )
    print(f"  drawing the dies {f['drawing_dies_s']:8.2f} s (not in the figures below)")
    print(
        f"  fp32 GEMM peak   {f['gemm_peak_gflops']:8.0f} GFLOP/s -> dense formulation "
        f"({f['dense_flop'] / 1e9:.0f} GFLOP) {f['peak_equivalent_s']:.2f} s at peak"
    )
    print(
        f"  batched      {f['batched_evaluation_s']:8.2f} s   "
        f"{f['batched_over_peak_equivalent']:.2f}x the peak-equivalent time "
        f"(CPU time {f['batched_cpu_over_gemm_cpu']:.2f}x the GEMM's)"
    )
    print(
        f"  per-die loop {f['per_die_loop_s']:8.2f} s   speed-up {f['evaluation_speedup']:.1f}x "
        f"(identical errors: {f['identical_errors']})"
    )
    if "loaded_batched_evaluation_s" in f:
        print("  with a busy-loop process on one core:")
        print(f"    batched      {f['loaded_batched_evaluation_s']:8.2f} s")
        print(
            f"    per-die loop {f['loaded_per_die_loop_s']:8.2f} s   "
            f"speed-up {f['loaded_evaluation_speedup']:.1f}x "
            f"(identical errors: {f['loaded_identical_errors']})"
        )
    if "ideal_epoch_s" in f:
        print(f"one training epoch (60 000 images, batch {f['batch_size']}):")
        print(f"  ideal             {f['ideal_epoch_s']:7.2f} s")
        print(
            f"  statistics-aware  {f['statistics_aware_epoch_s']:7.2f} s   "
            f"ratio {f['statistics_aware_epoch_ratio']:.2f}x "
            f"({f['dies_per_step']} virtual dies per step)"
        )


if __name__ == "__main__":
    main()

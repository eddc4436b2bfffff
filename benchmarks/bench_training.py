"""Training benchmarks, measured side by side in one run:

1. Evaluation of one weight set on N virtual dies (default 1000) drawn from the default
   simulated wafer's statistics, on the 10 000 MNIST test images: batched (`die_errors`, all
   dies' tensors at once) against a per-die loop (`die_errors_loop`) on the same drawn dies;
   drawing the dies is timed separately.
2. One epoch (60 000 images) of statistics-aware training against one ideal epoch.

    python -m benchmarks.bench_training [--dies N] [--seed N] [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from labctl.sim.wafer import VirtualWafer
from labctl.testing.sim_maps import wafer_maps_from_truth
from labctl.training.crossbar import TileResponse
from labctl.training.evaluate import die_errors, die_errors_loop
from labctl.training.mnist import load_mnist
from labctl.training.network import BinaryNetwork
from labctl.training.sampler import DieSampler
from labctl.training.statistics import wafer_statistics
from labctl.training.train import TrainConfig, train_ideal, train_statistics_aware


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def draw(sampler: DieSampler, n_dies: int, chunk: int = 100) -> list[TileResponse]:
    """Responses of n_dies virtual dies, drawn in chunks."""
    parts = [sampler.sample_responses(min(chunk, n_dies - i)) for i in range(0, n_dies, chunk)]
    return [TileResponse.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dies", type=int, default=1000, help="virtual dies (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="simulated wafer seed")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = load_mnist()
    stats = wafer_statistics(wafer_maps_from_truth(VirtualWafer(args.seed)))
    net = BinaryNetwork(generator=torch.Generator().manual_seed(0))  # speed needs no training
    x, y = data.test_x, data.test_y

    draw_s, responses = timed(lambda: draw(DieSampler(stats, seed=1), args.dies))
    batched_s, batched = timed(lambda: die_errors(net, x, y, responses))
    loop_s, looped = timed(lambda: die_errors_loop(net, x, y, responses))
    same_draws = bool(np.array_equal(batched[0], looped[0]))

    config = TrainConfig(ideal_epochs=1, statistics_epochs=1, threads=args.threads)
    ideal_s, ideal = timed(lambda: train_ideal(data.train_x, data.train_y, config, net.layer_sizes))
    stats_s, _ = timed(
        lambda: train_statistics_aware(
            data.train_x, data.train_y, config, DieSampler(stats, seed=2), ideal
        )
    )
    figures = {
        "virtual_dies": args.dies,
        "test_images": int(x.shape[0]),
        "threads": args.threads,
        "drawing_dies_s": round(draw_s, 3),
        "batched_evaluation_s": round(batched_s, 3),
        "per_die_loop_s": round(loop_s, 3),
        "evaluation_speedup": round(loop_s / batched_s, 2),
        "identical_results": same_draws,
        "ideal_epoch_s": round(ideal_s, 3),
        "statistics_aware_epoch_s": round(stats_s, 3),
        "statistics_aware_epoch_ratio": round(stats_s / ideal_s, 2),
        "dies_per_step": config.dies_per_step,
        "batch_size": config.batch_size,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"evaluation of {args.dies} virtual dies x {x.shape[0]} test images "
        f"({args.threads} threads):"
    )
    print(f"  drawing the dies {draw_s:8.2f} s (not in the figures below)")
    print(f"  batched      {batched_s:8.2f} s")
    print(
        f"  per-die loop {loop_s:8.2f} s   speed-up {loop_s / batched_s:.1f}x "
        f"(identical errors: {same_draws})"
    )
    print(f"one training epoch (60 000 images, batch {config.batch_size}):")
    print(f"  ideal             {ideal_s:7.2f} s")
    print(
        f"  statistics-aware  {stats_s:7.2f} s   ratio {stats_s / ideal_s:.2f}x "
        f"({config.dies_per_step} virtual dies per step)"
    )


if __name__ == "__main__":
    main()

"""The training benchmark's evaluation part runs end to end on small dies (values are not
asserted on: tests never judge wall-clock time)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

from benchmarks import bench_training
from labctl.training.crossbar import TileResponse
from labctl.training.network import BinaryNetwork


def random_responses(n_dies: int, shapes: list[tuple[int, int]], seed: int) -> list[TileResponse]:
    """Varied cells, 3 % of them defect-forced (gain 0, a fixed offset)."""
    g = torch.Generator().manual_seed(seed)
    responses = []
    for rows, cols in shapes:
        offset = 0.1 * torch.randn(n_dies, rows, cols, generator=g)
        gain = 1 + 0.1 * torch.randn(n_dies, rows, cols, generator=g)
        forced = torch.rand(n_dies, rows, cols, generator=g) < 0.03
        offset = torch.where(forced, 3 * torch.randn(n_dies, rows, cols, generator=g), offset)
        responses.append(TileResponse(offset, torch.where(forced, 0.0, gain)))
    return responses


def test_evaluation_figures_against_loop_peak_and_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_training, "PEAK_SIZE", 128)
    monkeypatch.setattr(bench_training, "ROUNDS", 1)
    monkeypatch.setattr(bench_training, "LOADED_ROUNDS", 1)
    spinners: list[int] = []
    real_busy_core = bench_training.busy_core

    @contextmanager
    def recorded_busy_core() -> Iterator[int]:
        with real_busy_core() as pid:
            spinners.append(pid)
            yield pid

    monkeypatch.setattr(bench_training, "busy_core", recorded_busy_core)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(100, 12, generator=g) < 0.13).float()
    y = torch.randint(0, 4, (100,), generator=g)
    net = BinaryNetwork((12, 8, 4), generator=g)
    responses = random_responses(5, [(12, 8), (8, 4)], seed=1)
    figures = bench_training.evaluation_figures(net, x, y, responses, under_load=True)
    assert figures["identical_errors"] and figures["loaded_identical_errors"]
    assert figures["dense_flop"] == 2 * 5 * 100 * (12 * 8 + 8 * 4)
    assert figures["batched_over_peak_equivalent"] > 0 and figures["batched_cpu_over_gemm_cpu"] > 0
    assert math.isfinite(figures["gemm_peak_gflops"]) and figures["gemm_peak_gflops"] > 0
    # The busy loop ran during the loaded part and is gone afterwards.
    assert len(spinners) == 1
    with pytest.raises(ProcessLookupError):
        os.kill(spinners[0], 0)

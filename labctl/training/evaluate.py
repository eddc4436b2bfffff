"""Test-set error of weights on many dies at once: measured dies, virtual dies, sensitivity.

The whole test set goes through all dies of a chunk in one batched forward pass (the first layer
as a single wide matrix product over all dies' bit lines); chunks bound the memory. A per-die loop
(`die_errors_loop`) gives identical numbers and serves as the reference in tests and benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from labctl.errors import ConfigError
from labctl.training.crossbar import TileResponse
from labctl.training.network import BinaryNetwork
from labctl.training.sampler import DieSampler

#: Default yield threshold: a die "passes" when its test error is at most this fraction.
DEFAULT_YIELD_THRESHOLD = 0.15

#: Upper bound on dies x images x hidden neurons per forward pass (about 64 MB of float32).
_MAX_CHUNK_ELEMENTS = 1 << 24


@dataclass(frozen=True)
class Evaluation:
    """Per-die test error (fraction) and mean cross-entropy loss of one solution."""

    die_names: tuple[str, ...]
    errors: np.ndarray
    losses: np.ndarray

    @property
    def mean_error(self) -> float:
        return float(np.mean(self.errors))

    @property
    def std_error(self) -> float:
        return float(np.std(self.errors))

    def yield_fraction(self, threshold: float = DEFAULT_YIELD_THRESHOLD) -> float:
        """Fraction of dies whose error is at most `threshold`."""
        return float(np.mean(self.errors <= threshold))

    def distribution(self) -> dict[str, float]:
        """Sensitivity summary: mean, spread and percentiles of error and loss over the dies."""
        out: dict[str, float] = {}
        for name, values in (("error", self.errors), ("loss", self.losses)):
            out[f"{name}_mean"] = float(np.mean(values))
            out[f"{name}_std"] = float(np.std(values))
            for q in (5, 50, 95):
                out[f"{name}_p{q}"] = float(np.percentile(values, q))
        return out

    def to_dict(self, threshold: float = DEFAULT_YIELD_THRESHOLD) -> dict[str, Any]:
        """JSON-ready: per-die errors, mean, std, yield (with its threshold)."""
        return {
            "per_die": {n: float(e) for n, e in zip(self.die_names, self.errors, strict=True)},
            "mean": self.mean_error,
            "std": self.std_error,
            "yield": self.yield_fraction(threshold),
            "yield_threshold": threshold,
        }


def die_errors(
    net: BinaryNetwork,
    x: torch.Tensor,
    y: torch.Tensor,
    responses: Sequence[TileResponse] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(errors, losses) per die of `responses`, batched.

    `net` holds one model (used on every die) or one model per die. Without responses (ideal
    hardware) there is one entry per model.
    """
    n_dies = net.n_models if responses is None else responses[0].n_dies
    if net.n_models not in (1, n_dies):
        raise ConfigError(f"{net.n_models} weight sets cannot be evaluated on {n_dies} dies")
    widest = max(net.layer_sizes[1:])
    per_chunk = max(1, _MAX_CHUNK_ELEMENTS // (x.shape[0] * widest))
    errors, losses = [], []
    with torch.no_grad():
        for start in range(0, n_dies, per_chunk):
            stop = min(start + per_chunk, n_dies)
            chunk = None if responses is None else [r.select(slice(start, stop)) for r in responses]
            models = net if net.n_models == 1 else net.take(start, stop)
            logits = models(x, chunk)
            errors.append((logits.argmax(dim=-1) != y).float().mean(dim=1))
            labels = y.expand(logits.shape[0], -1)
            losses.append(
                F.cross_entropy(logits.transpose(1, 2), labels, reduction="none").mean(dim=1)
            )
    return torch.cat(errors).numpy(), torch.cat(losses).numpy()


def die_errors_loop(
    net: BinaryNetwork,
    x: torch.Tensor,
    y: torch.Tensor,
    responses: Sequence[TileResponse],
) -> tuple[np.ndarray, np.ndarray]:
    """Reference implementation of `die_errors`: one die at a time."""
    results = []
    for d in range(responses[0].n_dies):
        models = net if net.n_models == 1 else net.take(d, d + 1)
        results.append(die_errors(models, x, y, [r.select([d]) for r in responses]))
    return np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results])


def evaluate_dies(
    net: BinaryNetwork,
    x: torch.Tensor,
    y: torch.Tensor,
    responses: Sequence[TileResponse],
    die_names: Sequence[str],
) -> Evaluation:
    """Evaluation of `net` on named dies (responses in the same order as the names)."""
    if len(die_names) != responses[0].n_dies:
        raise ConfigError(f"{len(die_names)} names for {responses[0].n_dies} dies")
    errors, losses = die_errors(net, x, y, responses)
    return Evaluation(tuple(die_names), errors, losses)


def evaluate_virtual_dies(
    net: BinaryNetwork,
    x: torch.Tensor,
    y: torch.Tensor,
    sampler: DieSampler,
    n_dies: int,
    chunk_dies: int = 50,
) -> Evaluation:
    """Evaluation on `n_dies` virtual dies drawn from the sampler's statistics (also the
    sensitivity analysis: `Evaluation.distribution()` of the result)."""
    if net.n_models != 1:
        raise ConfigError("virtual dies need a single weight set")
    errors, losses = [], []
    for start in range(0, n_dies, chunk_dies):
        count = min(chunk_dies, n_dies - start)
        chunk_errors, chunk_losses = die_errors(net, x, y, sampler.sample_responses(count))
        errors.append(chunk_errors)
        losses.append(chunk_losses)
    names = tuple(f"virtual_{i:05d}" for i in range(n_dies))
    return Evaluation(names, np.concatenate(errors), np.concatenate(losses))

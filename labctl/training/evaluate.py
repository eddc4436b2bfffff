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

from labctl.core.errors import ConfigError
from labctl.training.crossbar import TileResponse
from labctl.training.network import BinaryNetwork
from labctl.training.routing import RoutingPriority, route
from labctl.training.sampler import DieSampler

#: Default yield threshold: a die "passes" when its test error is at most this fraction.
DEFAULT_YIELD_THRESHOLD = 0.15

#: Dies evaluated together, and the bound on dies x images x neurons of one pass (~8 MB of
#: float32, so that a pass's activations stay in cache).
_DIES_PER_CHUNK = 32
_MAX_PASS_ELEMENTS = 1 << 21


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
    """(errors, losses) per die of `responses`, all dies of a chunk in one batched pass.

    `net` holds one model (used on every die) or one model per die. Without responses (ideal
    hardware) there is one entry per model. Same arithmetic as `net.forward`, laid out for
    speed: each layer's neurons of all dies of a chunk along one axis, images along the other,
    so that the first layer is a single wide matrix product shared by all dies and neither
    the hidden activations nor the transposes need copies.
    """
    n_dies = net.n_models if responses is None else responses[0].n_dies
    if net.n_models not in (1, n_dies):
        raise ConfigError(f"{net.n_models} weight sets cannot be evaluated on {n_dies} dies")
    x_t = x.t().contiguous()
    errors, losses = [], []
    with torch.inference_mode():
        signs = [torch.where(latent >= 0, 1.0, -1.0) for latent in net.latent]
        for start in range(0, n_dies, _DIES_PER_CHUNK):
            stop = min(start + _DIES_PER_CHUNK, n_dies)
            weights = []
            for k, s in enumerate(signs):
                if net.n_models > 1:
                    s = s[start:stop]
                if responses is not None:
                    s = responses[k].select(slice(start, stop)).effective_weights(s)
                weights.append(s.expand(stop - start, -1, -1))
            models = net if net.n_models == 1 else net.take(start, stop)
            chunk_errors, chunk_losses = _chunk_error_counts(models, weights, x_t, y)
            errors.append(chunk_errors / len(y))
            losses.append(chunk_losses / len(y))
    return torch.cat(errors).numpy(), torch.cat(losses).numpy()


def _chunk_error_counts(
    net: BinaryNetwork, weights: list[torch.Tensor], x_t: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Wrong answers and summed loss per die for effective weights (dies, in, out) per layer."""
    n = weights[0].shape[0]
    width = max(net.layer_sizes[1:])
    images_per_pass = max(256, _MAX_PASS_ELEMENTS // (n * width))
    # Neuron-major layouts: (dies * out, in) for the shared first layer, (dies, out, in) after.
    first = weights[0].transpose(1, 2).reshape(-1, weights[0].shape[1])
    later = [w.transpose(1, 2) for w in weights[1:-1]]
    scales = [s.expand(n, -1, -1).transpose(1, 2) for s in net.scale]
    biases = [b.expand(n, -1, -1).transpose(1, 2) for b in net.bias]
    wrong = torch.zeros(n, dtype=torch.float64)
    loss = torch.zeros(n, dtype=torch.float64)
    for i in range(0, x_t.shape[1], images_per_pass):
        labels = y[i : i + images_per_pass]
        h = (first @ x_t[:, i : i + images_per_pass]).view(n, -1, labels.numel())
        for k in range(len(weights) - 1):
            if k > 0:
                h = torch.bmm(later[k - 1], h)
            h.mul_(scales[k]).add_(biases[k]).ge_(0)
        if len(weights) == 1:
            logits = h.transpose(1, 2) * net.scale[-1] + net.bias[-1]
        else:
            logits = torch.bmm(h.transpose(1, 2), weights[-1]) * net.scale[-1] + net.bias[-1]
        best, predicted = logits.max(dim=-1)
        wrong += (predicted != labels).sum(dim=1)
        # Cross-entropy as log-sum-exp minus the true class's score (the library kernel is
        # several times slower for 10 classes).
        log_sum = best + torch.log(torch.exp(logits - best.unsqueeze(-1)).sum(dim=-1))
        true_score = logits.gather(-1, labels.expand(n, -1).unsqueeze(-1)).squeeze(-1)
        loss += (log_sum - true_score).sum(dim=1)
    return wrong, loss


def die_errors_loop(
    net: BinaryNetwork,
    x: torch.Tensor,
    y: torch.Tensor,
    responses: Sequence[TileResponse],
) -> tuple[np.ndarray, np.ndarray]:
    """Reference for `die_errors`: the network's own forward pass, one die at a time."""
    errors, losses = [], []
    with torch.inference_mode():
        for d in range(responses[0].n_dies):
            models = net if net.n_models == 1 else net.take(d, d + 1)
            logits = models(x, [r.select([d]) for r in responses])[0]
            errors.append(int((logits.argmax(dim=-1) != y).sum()) / len(y))
            losses.append(float(F.cross_entropy(logits, y)))
    return np.asarray(errors), np.asarray(losses)


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
    priority: RoutingPriority | None = None,
) -> Evaluation:
    """Evaluation on `n_dies` virtual dies drawn from the sampler's statistics, each routed by
    `priority` if given (also the sensitivity analysis: `Evaluation.distribution()`)."""
    if net.n_models != 1:
        raise ConfigError("virtual dies need a single weight set")
    errors, losses = [], []
    for start in range(0, n_dies, chunk_dies):
        count = min(chunk_dies, n_dies - start)
        responses = route(priority, sampler.sample_responses(count))
        chunk_errors, chunk_losses = die_errors(net, x, y, responses)
        errors.append(chunk_errors)
        losses.append(chunk_losses)
    names = tuple(f"virtual_{i:05d}" for i in range(n_dies))
    return Evaluation(names, np.concatenate(errors), np.concatenate(losses))

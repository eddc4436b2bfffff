"""Test-set error of weights on many dies at once: measured dies, virtual dies, sensitivity.

The whole test set goes through all dies of a chunk in one batched forward pass; chunks bound the
memory. Binary inputs take a sparse path (sum of the weight rows whose input is 1, the
comparator folded into an exact threshold), other inputs a dense one (the first layer as one
wide matrix product over all dies' bit lines). A per-die loop (`die_errors_loop`) gives
identical predictions and serves as the reference in tests and benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

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

#: Dies evaluated together (a chunk: one task for a thread), and the bound on dies x images x
#: neurons of one pass (8 MB of float32 over the chunk; the sparse path's per-die activations of
#: a pass, 0.5 MB, stay in a core's L2 cache). Chosen by measurement on the 2-core machine.
_DIES_PER_CHUNK = 16
_MAX_PASS_ELEMENTS = 1 << 21

_T = TypeVar("_T")


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
    speed. Binary inputs (0/1 pixels) take the sparse path: a bit line's sum is the sum of the
    weight rows whose input is 1, about an eighth of the dense product's work at MNIST's 13 %
    density, added in row order as the dense product adds them, so that the predictions are the
    reference's. Other inputs take the dense path.
    """
    n_dies = net.n_models if responses is None else responses[0].n_dies
    if net.n_models not in (1, n_dies):
        raise ConfigError(f"{net.n_models} weight sets cannot be evaluated on {n_dies} dies")
    with torch.inference_mode():
        sparse = net.n_layers > 1 and x.dim() == 2 and bool(((x == 0) | (x == 1)).all())
        active = _ActiveInputs(x) if sparse else None
        x_t = None if sparse else x.t().contiguous()
        # The first layer's comparator (scale, bias, >= 0) as one exact threshold per neuron.
        first_comparator = firing_thresholds(net.scale[0], net.bias[0]) if sparse else None
        signs = [torch.where(latent >= 0, 1.0, -1.0) for latent in net.latent]

    def chunk_counts(start: int) -> tuple[torch.Tensor, torch.Tensor]:
        stop = min(start + _DIES_PER_CHUNK, n_dies)
        with torch.inference_mode():
            weights = []
            for k, s in enumerate(signs):
                if net.n_models > 1:
                    s = s[start:stop]
                if responses is not None:
                    s = responses[k].select(slice(start, stop)).effective_weights(s)
                weights.append(s.expand(stop - start, -1, -1))
            models = net if net.n_models == 1 else net.take(start, stop)
            if active is not None and first_comparator is not None:
                own = slice(start, stop) if net.n_models > 1 else slice(0, 1)
                comparator = (first_comparator[0][own], first_comparator[1][own])
                return _sparse_chunk_error_counts(models, weights, comparator, active, y)
            assert x_t is not None
            return _chunk_error_counts(models, weights, x_t, y)

    counts = _map_on_threads(chunk_counts, range(0, n_dies, _DIES_PER_CHUNK))
    errors = torch.cat([wrong for wrong, _ in counts]) / len(y)
    losses = torch.cat([loss for _, loss in counts]) / len(y)
    return errors.numpy(), losses.numpy()


def _map_on_threads(function: Callable[[int], _T], items: Sequence[int]) -> list[_T]:
    """`function` of each item, the items shared out among torch's intra-op thread count of
    Python threads, each running its torch operations on one thread.

    Why not torch's own (OpenMP) threads: a chunk is a few dozen short operations, each of which
    would split its work and wait at a barrier for its slowest thread; on a shared machine one
    descheduled thread holds up every barrier. Independent chunks, taken by whichever thread is
    free, keep both cores busy and balance themselves. torch releases the GIL inside operations.
    """
    threads = min(torch.get_num_threads(), len(items))
    if threads <= 1:
        return [function(item) for item in items]
    try:
        # set_num_threads acts on the calling thread (OpenMP and MKL thread-local settings),
        # plus a process-wide default for threads started later, restored below.
        with ThreadPoolExecutor(threads, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            return list(pool.map(function, items))
    finally:
        torch.set_num_threads(torch.get_num_threads())


def firing_thresholds(scale: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sign, threshold) per neuron: `sign * pre >= threshold` exactly when the float32
    comparator `pre * scale + bias >= 0` fires, for every float32 `pre`.

    Folding scale and bias into the sum itself rounds differently from the reference and flips
    the odd near-threshold neuron (measured: one prediction in two million differed). The
    comparator is monotone in `pre`, so its exact switching point is found instead, by
    bisection over the ordered float32 values. sign is -1 where the scale is negative (the
    negated sum rounds exactly as the sum, negated) and 0 where the output does not depend on
    `pre`; threshold -inf means always fires, NaN never.
    """
    scale, bias = torch.broadcast_tensors(scale.detach().float(), bias.detach().float())
    sign = torch.sign(scale).nan_to_num(0.0)
    direction = torch.where(sign == 0, 1.0, sign)

    def fires(key: torch.Tensor) -> torch.Tensor:
        return (_float_of_key(key) * direction * scale + bias) >= 0

    low = torch.full(scale.shape, _key_of_float(-math.inf), dtype=torch.int64)
    high = torch.full(scale.shape, _key_of_float(math.inf), dtype=torch.int64)
    always, never = fires(low), ~fires(high)
    # Invariant where neither always nor never: fires(low) is false, fires(high) is true.
    while bool(((high - low) > 1).any()):
        middle = (low + high) // 2
        on = fires(middle)
        high = torch.where(on, middle, high)
        low = torch.where(on, low, middle)
    threshold = _float_of_key(high)
    # A zero scale leaves bias >= 0 for every finite sum (0 * inf, which the search probes,
    # would be NaN); a NaN scale never fires.
    always = torch.where(sign == 0, bias >= 0, always)
    never = torch.where(sign == 0, (bias < 0) | scale.isnan(), never)
    threshold = torch.where(always, -math.inf, threshold)
    return sign, torch.where(never, math.nan, threshold)


def _key_of_float(value: float) -> int:
    """Integer key of a float32, ordered as the floats are (-0 just below +0)."""
    bits = int(torch.tensor(value, dtype=torch.float32).view(torch.int32))
    return bits if bits >= 0 else -(bits & 0x7FFFFFFF) - 1


def _float_of_key(key: torch.Tensor) -> torch.Tensor:
    """Inverse of `_key_of_float`, elementwise on int64 keys."""
    bits = torch.where(key >= 0, key, (-key - 1) - (1 << 31))
    return bits.to(torch.int32).view(torch.float32)


class _ActiveInputs:
    """The inputs that are 1, image by image: input indices and per-image offsets (CSR form)."""

    def __init__(self, x: torch.Tensor) -> None:
        images, inputs = (x != 0).nonzero(as_tuple=True)
        self.n_images = int(x.shape[0])
        self.inputs = inputs
        counts = torch.bincount(images, minlength=self.n_images)
        self.starts = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)])

    def block(self, first: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, offsets) of images first ... stop - 1, offsets relative to the block."""
        begin, end = int(self.starts[first]), int(self.starts[stop])
        return self.inputs[begin:end], self.starts[first:stop] - begin


def _sparse_chunk_error_counts(
    net: BinaryNetwork,
    weights: list[torch.Tensor],
    comparator: tuple[torch.Tensor, torch.Tensor],
    active: _ActiveInputs,
    y: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Wrong answers and summed loss per die for binary inputs (see `die_errors`).

    Die by die, the first layer's bit-line sums of a pass of images are the sums of their
    active weight rows (`embedding_bag` over the die's (inputs, neurons) table, each column
    signed as its comparator needs), the hidden outputs one comparison with the folded
    thresholds; later layers are matrix products into class-major scores (dies, classes,
    images), whose per-image reductions then run over contiguous images. One die's table
    (196 x 100 float32) is small enough for the L1/L2 caches, which measured faster than wider
    tables of several dies.
    """
    n = weights[0].shape[0]
    sign, threshold = (t.expand(n, -1, -1) for t in comparator)
    tables = (weights[0] * sign).contiguous()  # (dies, inputs, neurons)
    later = [w.transpose(1, 2) for w in weights[1:]]  # (dies, neurons, inputs of the layer)
    scales = [s.expand(n, -1, -1).transpose(1, 2) for s in net.scale[1:]]
    biases = [b.expand(n, -1, -1).transpose(1, 2) for b in net.bias[1:]]
    images_per_pass = max(64, _MAX_PASS_ELEMENTS // (n * max(net.layer_sizes[1:])))
    wrong = torch.zeros(n, dtype=torch.float64)
    loss = torch.zeros(n, dtype=torch.float64)
    for i in range(0, active.n_images, images_per_pass):
        stop = min(i + images_per_pass, active.n_images)
        inputs, offsets = active.block(i, stop)
        logits = torch.empty(n, net.layer_sizes[-1], stop - i)
        for d, (table, above, out) in enumerate(zip(tables, threshold, logits, strict=True)):
            h = F.embedding_bag(inputs, table, offsets, mode="sum").ge_(above).t()
            for k in range(len(later) - 1):
                h = torch.mm(later[k][d], h).mul_(scales[k][d]).add_(biases[k][d]).ge_(0)
            torch.mm(later[-1][d], h, out=out)
        counts = _wrong_and_loss(logits.mul_(scales[-1]).add_(biases[-1]), y[i:stop])
        wrong += counts[0]
        loss += counts[1]
    return wrong, loss


def _chunk_error_counts(
    net: BinaryNetwork, weights: list[torch.Tensor], x_t: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense path of `die_errors` for any inputs x (transposed here): the first layer as one
    wide matrix product (dies * neurons, inputs) @ (inputs, images), later ones batched, all
    neuron-major (dies, neurons, images)."""
    n = weights[0].shape[0]
    width = max(net.layer_sizes[1:])
    images_per_pass = max(256, _MAX_PASS_ELEMENTS // (n * width))
    first = weights[0].transpose(1, 2).reshape(-1, weights[0].shape[1])
    later = [w.transpose(1, 2) for w in weights[1:]]
    scales = [s.expand(n, -1, -1).transpose(1, 2) for s in net.scale]
    biases = [b.expand(n, -1, -1).transpose(1, 2) for b in net.bias]
    wrong = torch.zeros(n, dtype=torch.float64)
    loss = torch.zeros(n, dtype=torch.float64)
    for i in range(0, x_t.shape[1], images_per_pass):
        labels = y[i : i + images_per_pass]
        h = (first @ x_t[:, i : i + images_per_pass]).view(n, -1, labels.numel())
        for k in range(len(weights)):
            if k > 0:
                h = torch.bmm(later[k - 1], h)
            h.mul_(scales[k]).add_(biases[k])
            if k < len(weights) - 1:
                h.ge_(0)
        counts = _wrong_and_loss(h, labels)
        wrong += counts[0]
        loss += counts[1]
    return wrong, loss


def _wrong_and_loss(
    logits: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per die: wrong answers and summed cross-entropy of class-major logits (dies, classes,
    images), as `argmax` and `cross_entropy` give them, in four passes of float arithmetic
    (torch's argmax over a short axis and its comparisons into booleans are several times
    slower). Overwrites `logits`."""
    shifted = logits.sub_(logits.amax(dim=1, keepdim=True))  # <= 0, exactly 0 at the maxima
    index = labels.view(1, 1, -1).expand(logits.shape[0], 1, -1)
    true_gap = shifted.gather(1, index).squeeze(1)
    sum_exp = shifted.exp().sum(dim=1)
    wrong = true_gap != 0
    # argmax answers the first of equal maxima. A tie needs two exp(0) = 1 terms, hence
    # sum_exp >= 2: only those images whose true class is a maximum are looked at again.
    maybe_tied = (sum_exp >= 2).logical_and_(~wrong)
    if bool(maybe_tied.any()):
        die, image = maybe_tied.nonzero(as_tuple=True)
        scores = shifted[die, :, image]  # (candidates, classes)
        earlier = torch.arange(scores.shape[1]) < labels[image].unsqueeze(1)
        tied = ((scores == 0) & earlier).any(dim=1)
        wrong[die[tied], image[tied]] = True
    return wrong.sum(dim=1), (torch.log(sum_exp) - true_gap).sum(dim=1)


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

"""Weight polarity: which MTJ state of a layer's cells stands for +1.

A cell in P (high conductance) reads as +1 and AP as -1 by default. Negating a layer's weights
and its periphery scale (w -> -w, a -> -a) computes exactly the same function on a perfect tile,
because the neuron sees a * sum_i x_i w_i either way; it only swaps which state encodes +1. On a
real tile it is not the same: a short is a very high conductance, about +12 weight steps at the
default read-out, so with the default polarity it pushes its bit line's (scaled) pre-activation
up -- a hidden neuron fires whenever the shorted input is on, a class score rises on every image
that drives the row -- while with the inverted polarity it pushes it down: the neuron stays
silent (and drives no row of the next tile), the class score drops, which only matters for
images of that class. Opens, much weaker (about -3 steps), get the opposite sign.

The polarity is part of the weight set (signs and periphery scales in the weight file), the
same on every die: no per-die configuration. `choose_polarity` picks, per layer, the polarity
with the lowest validation score (virtual dies from the wafer statistics, validation images).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from labctl.training.network import BinaryNetwork

#: A latent weight of exactly 0 reads as +1; inverted it must read -1, so it becomes -this.
_ZERO_LATENT = 1e-6


def invert_polarity(net: BinaryNetwork, layers: Sequence[int]) -> BinaryNetwork:
    """A copy of `net` with the polarity of `layers` inverted (same function on ideal hardware)."""
    inverted = copy.deepcopy(net)
    with torch.no_grad():
        for k in layers:
            latent = inverted.latent[k]
            latent.copy_(torch.where(latent == 0, -_ZERO_LATENT, -latent))
            inverted.scale[k].neg_()
    return inverted


@dataclass(frozen=True)
class PolarityChoice:
    """The layers whose polarity was inverted, and the validation score of every candidate."""

    inverted_layers: tuple[int, ...]
    scores: dict[str, float]

    def to_json(self) -> dict[str, object]:
        return {"inverted_layers": list(self.inverted_layers), "scores": self.scores}


def choose_polarity(
    net: BinaryNetwork, score: Callable[[BinaryNetwork], float]
) -> tuple[BinaryNetwork, PolarityChoice]:
    """Try every combination of inverted layers, keep the one `score` (held-out data, lower is
    better) likes best; ties keep fewer inversions (the default polarity first)."""
    best: tuple[float, BinaryNetwork, tuple[int, ...]] | None = None
    scores: dict[str, float] = {}
    for n_inverted in range(net.n_layers + 1):
        for layers in itertools.combinations(range(net.n_layers), n_inverted):
            candidate = invert_polarity(net, layers) if layers else net
            value = float(score(candidate))
            scores[",".join(map(str, layers)) or "none"] = value
            if best is None or value < best[0]:
                best = (value, candidate, layers)
    assert best is not None  # a network has at least one layer: two candidates
    return best[1], PolarityChoice(best[2], scores)

"""The binary network mapped onto a die: latent weights, ±1 cells, binary neurons, periphery.

Layer k of the network is tile k of the die (rows = inputs, columns = neurons). Training keeps a
real latent weight per cell; the forward pass uses its sign (P = +1, AP = -1) and the backward
pass lets the gradient straight through (STE, zero where |latent| > 1). Hidden neurons are binary:
1 drives the next tile's row at the read voltage, 0 leaves it grounded; they fire when the
digital periphery's per-neuron affine function of the normalised bit-line current is >= 0
(a comparator with a per-neuron threshold), with a straight-through gradient on |u| <= 1.
The output layer's per-neuron affine values are the class scores (argmax).

Several independent weight sets ("models", e.g. one per die for hardware-aware training) are
kept stacked along a leading axis so that they train and evaluate in one batched pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from labctl.core.errors import ConfigError
from labctl.core.geometry import DEFAULT_LAYER_SIZES
from labctl.training.crossbar import TileResponse

#: Initial latent weights are uniform in +-this (small, so that early training can flip them).
_LATENT_INIT = 0.1


class SignSTE(torch.autograd.Function):
    """sign() with +1 at 0; gradient passed straight through where |w| <= 1."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, latent: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(latent)
        return torch.where(latent >= 0, 1.0, -1.0).to(latent.dtype)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (latent,) = ctx.saved_tensors  # type: ignore[attr-defined]
        return grad * (latent.abs() <= 1).to(grad.dtype)


class StepSTE(torch.autograd.Function):
    """Heaviside step (1 at u >= 0) with the gradient of (hardtanh(u) + 1) / 2."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, u: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(u)
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (u,) = ctx.saved_tensors  # type: ignore[attr-defined]
        return grad * 0.5 * (u.abs() <= 1).to(grad.dtype)


def binary_sign(latent: torch.Tensor) -> torch.Tensor:
    """±1 weights from latent weights, straight-through gradient."""
    result: torch.Tensor = SignSTE.apply(latent)
    return result


def binary_step(u: torch.Tensor) -> torch.Tensor:
    """0/1 neuron outputs, straight-through gradient."""
    result: torch.Tensor = StepSTE.apply(u)
    return result


def check_layers_fit(layer_sizes: Sequence[int], tile_shapes: Sequence[tuple[int, int]]) -> None:
    """ConfigError unless layer k (inputs x neurons) fits into tile k (rows x columns)."""
    n_layers = len(layer_sizes) - 1
    if n_layers > len(tile_shapes):
        raise ConfigError(
            f"a {n_layers}-layer network needs {n_layers} tiles, the die has {len(tile_shapes)}"
        )
    for k in range(n_layers):
        n_in, n_out = layer_sizes[k], layer_sizes[k + 1]
        rows, cols = tile_shapes[k]
        if n_in > rows or n_out > cols:
            raise ConfigError(
                f"layer {k} ({n_in} inputs x {n_out} neurons) does not fit tile {k} "
                f"({rows} rows x {cols} columns)"
            )


def _check_layer_sizes(layer_sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(int(n) for n in layer_sizes)
    if len(sizes) < 2 or any(n < 1 for n in sizes):
        raise ConfigError(f"layer sizes must be >= 2 positive integers, got {list(layer_sizes)}")
    return sizes


class BinaryNetwork(nn.Module):
    """`n_models` stacked binary networks of one architecture (default 196-100-10)."""

    def __init__(
        self,
        layer_sizes: Sequence[int] = DEFAULT_LAYER_SIZES,
        n_models: int = 1,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.layer_sizes = _check_layer_sizes(layer_sizes)
        if n_models < 1:
            raise ValueError(f"n_models must be >= 1, got {n_models}")
        self.latent = nn.ParameterList()
        self.scale = nn.ParameterList()
        self.bias = nn.ParameterList()
        last = len(self.layer_sizes) - 2
        for k, (n_in, n_out) in enumerate(
            zip(self.layer_sizes[:-1], self.layer_sizes[1:], strict=True)
        ):
            latent = (torch.rand(n_models, n_in, n_out, generator=generator) * 2 - 1) * _LATENT_INIT
            # Hidden: comparator input of order 1 for ~1/4 of the rows driven; output: logits of
            # a few units so that the softmax is neither flat nor saturated at the start.
            gain = (6.0 if k == last else 2.0) / math.sqrt(n_in)
            self.latent.append(nn.Parameter(latent))
            self.scale.append(nn.Parameter(torch.full((n_models, 1, n_out), gain)))
            self.bias.append(nn.Parameter(torch.zeros(n_models, 1, n_out)))

    @property
    def n_models(self) -> int:
        return int(self.latent[0].shape[0])

    @property
    def n_layers(self) -> int:
        return len(self.layer_sizes) - 1

    def signs(self) -> list[torch.Tensor]:
        """±1 weights of each layer, (models, inputs, neurons), straight-through gradient."""
        return [binary_sign(latent) for latent in self.latent]

    def forward(
        self, x: torch.Tensor, responses: Sequence[TileResponse] | None = None
    ) -> torch.Tensor:
        """Class scores (dies, samples, classes) of inputs `x` on dies with `responses`.

        x: (samples, inputs), the same inputs on every die, or (dies, samples, inputs), each die
        its own. responses: one TileResponse per layer (dies = 1 or D); None = ideal hardware.
        Models, responses and per-die inputs broadcast: each count is 1 or the common D.
        """
        return self.forward_with_hidden(x, responses)[0]

    def forward_with_hidden(
        self, x: torch.Tensor, responses: Sequence[TileResponse] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Class scores and the 0/1 outputs of every hidden layer (dies, samples, neurons)."""
        if responses is not None and len(responses) < self.n_layers:
            raise ConfigError(f"{self.n_layers} layers need {self.n_layers} tile responses")
        h = x
        hidden: list[torch.Tensor] = []
        for k, signs in enumerate(self.signs()):
            weights = signs if responses is None else responses[k].effective_weights(signs)
            pre = _crossbar_matmul(h, weights)
            u = pre * self.scale[k] + self.bias[k]
            if k == self.n_layers - 1:
                return u, hidden
            h = binary_step(u)
            hidden.append(h)
        raise AssertionError("unreachable: a network has at least one layer")

    def clip_latent_(self) -> None:
        """Keep latent weights in [-1, 1], where the straight-through gradient is non-zero."""
        with torch.no_grad():
            for latent in self.latent:
                latent.clamp_(-1.0, 1.0)

    def replicate(self, n_models: int) -> BinaryNetwork:
        """A new network holding `n_models` copies of this one's (single) model."""
        if self.n_models != 1:
            raise ValueError("replicate() needs a single-model network")
        copy = BinaryNetwork(self.layer_sizes, n_models=n_models)
        with torch.no_grad():
            for group in ("latent", "scale", "bias"):
                for dst, src in zip(getattr(copy, group), getattr(self, group), strict=True):
                    dst.copy_(src.expand_as(dst))
        return copy

    def take(self, start: int, stop: int) -> BinaryNetwork:
        """A new network with models start ... stop - 1 of this one."""
        if not 0 <= start < stop <= self.n_models:
            raise IndexError(f"models {start}:{stop} of {self.n_models}")
        part = BinaryNetwork(self.layer_sizes, n_models=stop - start)
        with torch.no_grad():
            for group in ("latent", "scale", "bias"):
                for dst, src in zip(getattr(part, group), getattr(self, group), strict=True):
                    dst.copy_(src[start:stop])
        return part

    @staticmethod
    def stack(networks: Sequence[BinaryNetwork]) -> BinaryNetwork:
        """One network whose models are the single models of `networks`, in order."""
        if not networks or any(n.n_models != 1 for n in networks):
            raise ValueError("stack() needs at least one single-model network")
        sizes = networks[0].layer_sizes
        if any(n.layer_sizes != sizes for n in networks):
            raise ConfigError("cannot stack networks of different layer sizes")
        stacked = BinaryNetwork(sizes, n_models=len(networks))
        with torch.no_grad():
            for group in ("latent", "scale", "bias"):
                for k, dst in enumerate(getattr(stacked, group)):
                    dst.copy_(torch.cat([getattr(n, group)[k] for n in networks]))
        return stacked


def _crossbar_matmul(h: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Bit-line sums (dies, samples, neurons) of inputs h through weights (dies, in, out).

    Shared 2-D inputs on many dies go through one wide matrix product (inputs x all dies'
    columns), far faster than a batched product of narrow ones.
    """
    if h.dim() == 2:
        n_dies, n_in, n_out = weights.shape
        if n_dies == 1:
            return (h @ weights[0]).unsqueeze(0)
        wide = weights.permute(1, 0, 2).reshape(n_in, n_dies * n_out)
        return (h @ wide).view(h.shape[0], n_dies, n_out).transpose(0, 1)
    return torch.matmul(h, weights)

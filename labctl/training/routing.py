"""Defect-aware routing: which physical row of a tile carries which logical input.

The periphery is digital: it decides which row of tile 0 each pixel drives, and which row of
tile 1 each hidden neuron's output drives. Any assignment computes the same function on a perfect
die, but on a real one a row holding a short (or an open, or stuck cells) only disturbs the bit
lines while its input is 1. Routing therefore gives the worst rows of each tile, ranked from the
die's measured map, to the inputs that are least often 1: never-inked border pixels, rarely
firing hidden neurons. It needs the die's map but no training, so a statistics-aware weight set
stays one weight set; training draws virtual dies routed the same way, so the network learns
to keep a few quiet inputs for the bad rows.

`RoutingPriority` holds, per layer, the logical inputs from least to most active (a property of
the weights and the data, stored with them); `route` turns it and a batch of die responses into
per-die row assignments and the responses seen in logical order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from labctl.core.errors import DataFormatError
from labctl.training.crossbar import TileResponse
from labctl.training.network import BinaryNetwork


def row_badness(response: TileResponse) -> torch.Tensor:
    """(dies, rows): summed squared deviation of each row's cells from ideal ±1 cells, averaged
    over both weight signs. Device spread adds ~0.01 per cell; a stuck cell 2, an open ~9, a
    short ~140, so defective rows rank first."""
    offset, gain = response.offset, response.gain
    deviation = 0.5 * ((offset + gain - 1) ** 2 + (offset - gain + 1) ** 2)
    return deviation.sum(dim=-1)


@dataclass(frozen=True)
class RoutingPriority:
    """Per layer, logical inputs from least to most often active (first ones get bad rows)."""

    input_order: tuple[torch.Tensor, ...]

    @classmethod
    def from_activity(cls, activities: Sequence[torch.Tensor]) -> RoutingPriority:
        """From each layer's input activity (fraction of samples at 1); ties keep index order."""
        return cls(tuple(torch.argsort(a, stable=True) for a in activities))

    @classmethod
    def of_network(cls, net: BinaryNetwork, x: torch.Tensor) -> RoutingPriority:
        """Activity of the pixels and of every hidden layer on ideal hardware over inputs x."""
        if net.n_models != 1:
            raise ValueError("routing priority needs a single weight set")
        with torch.no_grad():
            _, hidden = net.forward_with_hidden(x)
        return cls.from_activity([x.mean(dim=0)] + [h[0].mean(dim=0) for h in hidden])

    def to_json(self) -> list[list[int]]:
        return [order.tolist() for order in self.input_order]

    @classmethod
    def from_json(cls, raw: Any, layer_sizes: Sequence[int]) -> RoutingPriority:
        """Validated inverse of `to_json` (each layer's order a permutation of its inputs)."""
        try:
            orders = tuple(torch.as_tensor(layer, dtype=torch.long) for layer in raw)
        except (TypeError, ValueError) as exc:
            raise DataFormatError(
                f"routing priority is not a list of integer lists: {exc}"
            ) from exc
        if len(orders) != len(layer_sizes) - 1:
            raise DataFormatError(
                f"routing priority has {len(orders)} layers, not {len(layer_sizes) - 1}"
            )
        for k, order in enumerate(orders):
            if not torch.equal(torch.sort(order).values, torch.arange(layer_sizes[k])):
                raise DataFormatError(f"routing priority of layer {k} is not a permutation")
        return cls(orders)


def assign_rows(priority: RoutingPriority, responses: Sequence[TileResponse]) -> list[torch.Tensor]:
    """Per layer (dies, inputs): the physical row carrying each logical input on each die.

    Rows the layer does not need (a tile with more rows than the layer has inputs) are the
    worst ones, never driven; the logical inputs in priority order get the remaining rows from
    worst to best.
    """
    rows = []
    for order, response in zip(priority.input_order, responses, strict=False):
        n_dies, n_inputs = response.n_dies, order.numel()
        spare = response.shape[0] - n_inputs
        worst_first = torch.argsort(row_badness(response), dim=1, descending=True, stable=True)
        assignment = torch.empty(n_dies, n_inputs, dtype=torch.long)
        assignment[:, order] = worst_first[:, spare:]
        rows.append(assignment)
    return rows


def apply_rows(
    responses: Sequence[TileResponse], rows: Sequence[torch.Tensor]
) -> list[TileResponse]:
    """Responses in logical order: row i of layer k's result is physical row rows[k][d, i]."""
    routed = []
    for response, assignment in zip(responses, rows, strict=False):
        die = torch.arange(response.n_dies)[:, None]
        routed.append(
            TileResponse(response.offset[die, assignment], response.gain[die, assignment])
        )
    return routed


def route(
    priority: RoutingPriority | None, responses: Sequence[TileResponse]
) -> list[TileResponse]:
    """Responses as the routed network sees them (unchanged when `priority` is None)."""
    if priority is None:
        return list(responses)
    return apply_rows(responses, assign_rows(priority, responses))


@dataclass(frozen=True)
class DieRouting:
    """One die's routing: rows[k][i] = physical row of tile k driven by logical input i."""

    rows: tuple[np.ndarray, ...]

    @classmethod
    def identity(cls, layer_sizes: Sequence[int]) -> DieRouting:
        return cls(tuple(np.arange(n) for n in layer_sizes[:-1]))

    def physical_signs(
        self, layer: int, signs: np.ndarray, tile_shape: tuple[int, int]
    ) -> np.ndarray:
        """The ±1 pattern to program into tile `layer` (rows, cols): logical weight (i, j) at
        (rows[layer][i], j); cells of unused rows and columns are set to +1 (P)."""
        pattern = np.ones(tile_shape, dtype=np.int8)
        pattern[self.rows[layer], : signs.shape[1]] = signs
        return pattern

    def physical_inputs(self, layer: int, bits: np.ndarray, n_rows: int) -> np.ndarray:
        """Row drive bits of tile `layer` for logical input bits (unused rows grounded)."""
        drive = np.zeros(n_rows, dtype=bool)
        drive[self.rows[layer]] = np.asarray(bits, dtype=bool)
        return drive

    def to_json(self) -> list[list[int]]:
        return [r.tolist() for r in self.rows]

    @classmethod
    def from_json(cls, raw: Any, layer_sizes: Sequence[int]) -> DieRouting:
        """Validated inverse of `to_json`: per layer, distinct non-negative rows, one per input."""
        try:
            rows = tuple(np.asarray(layer, dtype=np.int64) for layer in raw)
        except (TypeError, ValueError) as exc:
            raise DataFormatError(f"die routing is not a list of integer lists: {exc}") from exc
        if len(rows) != len(layer_sizes) - 1:
            raise DataFormatError(f"die routing has {len(rows)} layers, not {len(layer_sizes) - 1}")
        for k, layer in enumerate(rows):
            if layer.shape != (layer_sizes[k],) or layer.min(initial=0) < 0:
                raise DataFormatError(f"die routing of layer {k} does not fit its inputs")
            if np.unique(layer).size != layer.size:
                raise DataFormatError(f"die routing of layer {k} uses a row twice")
        return cls(rows)


Routing = RoutingPriority | DieRouting


def routing_from_metadata(raw: Any, layer_sizes: Sequence[int]) -> Routing | None:
    """The routing a weight file asks for: None, a priority (any die) or one die's rows."""
    if raw is None:
        return None
    if isinstance(raw, dict) and "priority" in raw:
        return RoutingPriority.from_json(raw["priority"], layer_sizes)
    if isinstance(raw, dict) and "rows" in raw:
        return DieRouting.from_json(raw["rows"], layer_sizes)
    raise DataFormatError(f"unknown routing entry {raw!r:.60}")


def routing_to_metadata(routing: Routing | None) -> dict[str, Any] | None:
    if routing is None:
        return None
    if isinstance(routing, RoutingPriority):
        return {"priority": routing.to_json()}
    return {"rows": routing.to_json()}


def apply_routing(routing: Routing | None, responses: Sequence[TileResponse]) -> list[TileResponse]:
    """Responses in logical order under any routing (a DieRouting applies to every die given)."""
    if routing is None or isinstance(routing, RoutingPriority):
        return route(routing, responses)
    rows = []
    for layer, response in zip(routing.rows, responses, strict=False):
        if layer.max(initial=0) >= response.shape[0]:
            raise DataFormatError(
                f"die routing uses row {layer.max()} of a {response.shape[0]}-row tile"
            )
        rows.append(torch.as_tensor(layer).expand(response.n_dies, -1))
    return apply_rows(responses, rows)

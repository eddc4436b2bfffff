"""Which state each cell of a die must hold for a weight set: routing, patterns, identity.

A weight file says how it is routed (none, a priority that routes it on any die, or one die's
rows); for the die at hand this becomes a :class:`DieRouting`, and each layer's ±1 signs become
the physical tile's target states (P = +1 = bit 0, AP = -1 = bit 1; unused cells P), with every
cell's P/AP midpoint from the die's characterisation to judge the read-back.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labctl.core.errors import LabctlError
from labctl.training.crossbar import die_responses
from labctl.training.maps import DieMaps
from labctl.training.network import BinaryNetwork, check_layers_fit
from labctl.training.routing import DieRouting, Routing, RoutingPriority, assign_rows
from labctl.training.weights_io import WeightMetadata, load_weights
from procedures.program import TileTarget


@dataclass(frozen=True)
class WeightSet:
    """A loaded weight file and its identity (what the wafer file records with a run)."""

    path: Path
    net: BinaryNetwork
    metadata: WeightMetadata
    routing: Routing | None
    sha256: str

    def identity(self) -> dict[str, Any]:
        return {
            "file": self.path.name,
            "path": str(self.path),
            "sha256": self.sha256,
            "mode": self.metadata.mode,
            "die": self.metadata.die,
            "seed": self.metadata.seed,
            "layer_sizes": list(self.metadata.layer_sizes),
            "metadata": json.loads(self.metadata.to_json()),
        }


def load_weight_set(path: str | Path) -> WeightSet:
    """The weight file at `path` (LabctlError if missing, DataFormatError if not one)."""
    from labctl.training.routing import routing_from_metadata

    path = Path(path)
    if not path.is_file():
        raise LabctlError(f"weight file not found: {path}")
    net, metadata = load_weights(path)
    routing = routing_from_metadata(metadata.routing, metadata.layer_sizes)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return WeightSet(path, net, metadata, routing, digest)


def die_routing(weights: WeightSet, die: DieMaps) -> DieRouting:
    """The physical rows carrying each logical input of `weights` on `die`."""
    check_layers_fit(weights.net.layer_sizes, die.tile_shapes)
    routing = weights.routing
    if routing is None:
        return DieRouting.identity(weights.net.layer_sizes)
    if isinstance(routing, RoutingPriority):
        rows = assign_rows(routing, die_responses([die]))
        return DieRouting(tuple(r[0].numpy().astype(np.int64) for r in rows))
    for k, layer in enumerate(routing.rows):
        if layer.max(initial=0) >= die.tile_shapes[k][0]:
            raise LabctlError(f"{weights.path}: its routing uses row {layer.max()} of tile {k}")
    return routing


def tile_targets(weights: WeightSet, die: DieMaps, routing: DieRouting) -> list[TileTarget]:
    """Per layer, the tile's target states, cell midpoints and known defects."""
    targets = []
    with np.errstate(all="ignore"):
        for k, latent in enumerate(weights.net.latent):
            signs = np.where(latent.detach().numpy()[0] >= 0, 1, -1).astype(np.int8)
            tile = die.tiles[k]
            pattern = routing.physical_signs(k, signs, tile.shape)
            targets.append(
                TileTarget(
                    tile=k,
                    target_ap=pattern < 0,
                    midpoint_S=(tile.g_p_S + tile.g_ap_S) / 2,
                    defects=np.asarray(tile.defects, dtype=np.uint8),
                )
            )
    return targets

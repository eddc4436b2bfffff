"""From a weight file to a die's target states: sign mapping, routing, identity."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from training_helpers import synthetic_die

from labctl.core.errors import ConfigError, DataFormatError, LabctlError
from labctl.hardware.deploy import die_routing, load_weight_set, tile_targets
from labctl.training.network import BinaryNetwork
from labctl.training.routing import RoutingPriority, routing_to_metadata
from labctl.training.weights_io import WeightMetadata, save_weights

SIZES = (10, 6, 3)  # fits the synthetic die's 12 x 8 and 8 x 4 tiles


def _save(path: Path, routed: bool, sizes: tuple[int, ...] = SIZES) -> Path:
    net = BinaryNetwork(sizes, generator=torch.Generator().manual_seed(0))
    meta = WeightMetadata(mode="ideal", seed=0, layer_sizes=sizes)
    if routed:
        activity = [torch.linspace(0, 1, n) for n in sizes[:-1]]
        meta.routing = routing_to_metadata(RoutingPriority.from_activity(activity))
    save_weights(path, net, meta)
    return path


def test_signs_map_to_states_on_the_routed_rows(tmp_path: Path) -> None:
    weights = load_weight_set(_save(tmp_path / "w.safetensors", routed=False))
    die = synthetic_die("die_03_00", 1, rates=(0.02, 0.02, 0.02, 0.02))
    routing = die_routing(weights, die)
    targets = tile_targets(weights, die, routing)
    assert [t.target_ap.shape for t in targets] == [(12, 8), (8, 4)]
    for k, target in enumerate(targets):
        signs = np.where(weights.net.latent[k].detach().numpy()[0] >= 0, 1, -1)
        n_in, n_out = signs.shape
        # identity routing: logical input i on row i; weight -1 = AP, +1 = P; unused cells P
        np.testing.assert_array_equal(target.target_ap[:n_in, :n_out], signs < 0)
        assert not target.target_ap[n_in:].any() and not target.target_ap[:, n_out:].any()
        tile = die.tiles[k]
        np.testing.assert_allclose(target.midpoint_S, (tile.g_p_S + tile.g_ap_S) / 2)
        np.testing.assert_array_equal(target.defects, tile.defects)
    assert weights.identity()["sha256"] == hashlib.sha256(weights.path.read_bytes()).hexdigest()
    assert weights.identity()["mode"] == "ideal"


def test_priority_routing_gives_the_worst_rows_to_the_quietest_inputs(tmp_path: Path) -> None:
    weights = load_weight_set(_save(tmp_path / "w.safetensors", routed=True))
    die = synthetic_die("die_03_00", 2)
    tile0 = die.tiles[0]
    defects = np.asarray(tile0.defects).copy()
    defects[5, :] = 1  # a shorted row
    g_p, g_ap = tile0.g_p_S.copy(), tile0.g_ap_S.copy()
    g_p[5, :] = g_ap[5, :] = 1e-3
    from labctl.training.maps import DieMaps, TileMap

    die = DieMaps(die.name, (TileMap(g_p, g_ap, defects), die.tiles[1]))
    routing = die_routing(weights, die)
    # the least active logical input (index 0, activity 0) never lands on a good row ahead of
    # the shorted one: the shorted row carries input 0 or is left unused
    assert 5 not in routing.rows[0][1:]
    targets = tile_targets(weights, die, routing)
    signs = np.where(weights.net.latent[0].detach().numpy()[0] >= 0, 1, -1)
    np.testing.assert_array_equal(targets[0].target_ap[routing.rows[0], : signs.shape[1]],
                                  signs < 0)


def test_bad_weight_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LabctlError, match="not found"):
        load_weight_set(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a weight file")
    with pytest.raises(DataFormatError):
        load_weight_set(tmp_path / "junk.safetensors")
    big = load_weight_set(_save(tmp_path / "big.safetensors", routed=False, sizes=(20, 6, 3)))
    with pytest.raises(ConfigError, match="does not fit tile 0"):
        die_routing(big, synthetic_die("die_03_00", 1))

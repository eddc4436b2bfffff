"""The in-situ arithmetic (reference subtraction, activations, layer 2) against the emulation."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from training_helpers import synthetic_die

from labctl.hardware.validate import (
    compare,
    emulated_predictions,
    in_situ_predictions,
    readback_responses,
    tile_references,
)
from labctl.store.programmed import ProgrammedRun, ProgrammedTile
from labctl.training.network import BinaryNetwork
from labctl.training.routing import DieRouting

SIZES = (10, 6, 3)
V_READ = 0.1


@pytest.mark.parametrize("input_bits", [1, 3])
def test_in_situ_arithmetic_matches_the_read_back_emulation(input_bits: int) -> None:
    """A die whose bit lines sum exactly V * G of the read-back cells: (b) equals (a), also
    with multi-bit inputs read bit-serially (one read per bit plane, shift-and-add)."""
    die = synthetic_die("die_03_00", 4, rates=(0.03, 0.03, 0.03, 0.03))
    net = BinaryNetwork(SIZES, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for k in range(2):
            net.bias[k].uniform_(-0.5, 0.5)
    rng = np.random.default_rng(5)
    routing = DieRouting((rng.permutation(12)[:10], rng.permutation(8)[:6]))
    tiles = []
    for tile in die.tiles:  # the read-back: each cell in a random state
        state_ap = rng.random(tile.shape) < 0.5
        g = np.where(state_ap, tile.g_ap_S, tile.g_p_S)
        tiles.append(ProgrammedTile(state_ap, 1 / g, np.ones(tile.shape, np.uint8),
                                    tile.defects, np.zeros(tile.shape, bool),
                                    np.zeros(tile.shape, bool)))
    run = ProgrammedRun("die_03_00", {}, {}, tuple(tiles))
    refs = tile_references(die, 2)
    responses = readback_responses(run, refs, routing)

    def infer(tile: int, drive: np.ndarray) -> np.ndarray:
        g = 1 / run.tiles[tile].r_read_ohm
        return V_READ * drive.astype(float) @ g

    reads = []

    def counting_infer(tile: int, drive: np.ndarray) -> np.ndarray:
        reads.append(tile)
        return infer(tile, drive)

    if input_bits == 1:
        x = torch.from_numpy((rng.random((300, 10)) < 0.4).astype(np.float32))
    else:
        levels = 2**input_bits - 1
        x = torch.from_numpy((rng.integers(0, levels + 1, (300, 10)) / levels).astype(np.float32))
    emulated = emulated_predictions(net, responses, x)
    in_situ = in_situ_predictions(counting_infer, net, routing, refs, die.tile_shapes, x, V_READ,
                                  input_bits)
    assert reads == [0] * input_bits + [1]
    np.testing.assert_array_equal(emulated, in_situ)
    assert len(set(emulated.tolist())) > 1  # not a constant answer
    labels = np.zeros(300, dtype=int)
    agreement, err_a, err_b = compare(emulated, in_situ, labels)
    assert agreement == 1.0 and err_a == err_b == float(np.mean(emulated != 0))

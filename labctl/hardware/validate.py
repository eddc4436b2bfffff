"""Validation of a programmed die: (a) the emulated error of the read-back map on the whole test
set, as the paper computed it; (b) in-situ analog inference on the die itself.

(a) The read-back conductance of every cell, normalised with the tile's reference levels from
the characterisation (`programmed_response`), replaces the weights: the network's periphery
(scale, bias, binary neurons) runs on what the die actually holds, defects included.
(b) Each image drives tile 0's rows (routed) at the read voltage; the SMU reads every bit line;
the periphery subtracts the reference current (V G_ref per driven row), divides by V dG, applies
the neuron's affine comparator; the hidden bits drive tile 1 the same way; argmax of its scores.
Multi-bit inputs are read bit-serially: one read per bit plane, shift-and-add in the periphery.
The periphery's arithmetic is (a)'s, but the die is not (a)'s linear sum of read-back cells: in
the simulator the bit lines have wire resistance (IR drop under the summed current), each cell's
TMR is at its own voltage, intermittent cells read either state, and every read has noise, so
agreement is a measurement, not a consequence of the construction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from labctl.analysis.conductance import conductance_from_resistance_S
from labctl.core.errors import LabctlError
from labctl.store.programmed import ProgrammedRun
from labctl.training.crossbar import TileResponse, programmed_response, reference_levels_S
from labctl.training.evaluate import die_errors
from labctl.training.maps import DieMaps
from labctl.training.mnist import bit_planes
from labctl.training.network import BinaryNetwork
from labctl.training.routing import DieRouting, apply_rows


@dataclass(frozen=True)
class TileReference:
    """A tile's reference conductance and half weight step from its characterisation, S."""

    g_ref_S: float
    half_step_S: float


def tile_references(die: DieMaps, n_layers: int) -> list[TileReference]:
    """Reference levels of the first `n_layers` tiles of `die` (as training normalises them)."""
    refs = []
    for tile in die.tiles[:n_layers]:
        g_ref, half = reference_levels_S(
            torch.from_numpy(tile.g_p_S)[None],
            torch.from_numpy(tile.g_ap_S)[None],
            torch.from_numpy(np.asarray(tile.defects, dtype=np.int64))[None],
        )
        refs.append(TileReference(float(g_ref[0]), float(half[0])))
    return refs


def readback_responses(
    run: ProgrammedRun, refs: list[TileReference], routing: DieRouting
) -> list[TileResponse]:
    """The programmed die as the network sees it (logical row order), one die in the batch."""
    physical = []
    for tile, ref in zip(run.tiles, refs, strict=False):
        g = torch.from_numpy(conductance_from_resistance_S(tile.r_read_ohm))[None]
        physical.append(
            programmed_response(
                g, torch.tensor([ref.g_ref_S], dtype=g.dtype),
                torch.tensor([ref.half_step_S], dtype=g.dtype),
            )
        )
    rows = [torch.as_tensor(r, dtype=torch.long)[None] for r in routing.rows]
    return apply_rows(physical, rows)


def emulated_error(
    net: BinaryNetwork, responses: list[TileResponse], x: torch.Tensor, y: torch.Tensor
) -> float:
    """Test error (fraction) of the read-back map on images x, labels y."""
    errors, _ = die_errors(net, x, y, responses)
    return float(errors[0])


def emulated_predictions(
    net: BinaryNetwork, responses: list[TileResponse], x: torch.Tensor
) -> np.ndarray:
    """Predicted classes of images x from the read-back map."""
    with torch.inference_mode():
        scores = net(x, responses)[0]
    return scores.argmax(dim=-1).numpy()


#: (tile, row-drive vectors (samples, rows)) -> bit-line currents (samples, cols), A.
InferFn = Callable[[int, np.ndarray], np.ndarray]


def in_situ_predictions(
    infer: InferFn,
    net: BinaryNetwork,
    routing: DieRouting,
    refs: list[TileReference],
    tile_shapes: tuple[tuple[int, int], ...],
    x: torch.Tensor,
    input_voltage_V: float,
    input_bits: int = 1,
) -> np.ndarray:
    """Predicted classes of images x by analog inference on the die, layer by layer (tile 0
    read once per bit plane when `input_bits` > 1, planes weighted 2^b / (2^B - 1))."""
    if input_bits > 1:
        planes = [p.numpy() >= 0.5 for p in bit_planes(x, input_bits)]
        plane_weights = [2.0**b / (2**input_bits - 1) for b in range(input_bits)]
    else:
        planes, plane_weights = [np.asarray(x.numpy() >= 0.5)], [1.0]
    scores = np.zeros((x.shape[0], net.layer_sizes[-1]))
    for k in range(net.n_layers):
        n_out = net.layer_sizes[k + 1]
        ref = refs[k]
        pre = np.zeros((x.shape[0], n_out))
        for bits, weight in zip(planes, plane_weights, strict=True):
            drive = np.stack([routing.physical_inputs(k, b, tile_shapes[k][0]) for b in bits])
            currents = infer(k, drive)[:, :n_out]
            driven = drive.sum(axis=1, keepdims=True)
            pre += weight * (currents / input_voltage_V - ref.g_ref_S * driven) / ref.half_step_S
        scale = net.scale[k].detach().numpy()[0, 0]
        bias = net.bias[k].detach().numpy()[0, 0]
        u = pre * scale + bias
        if k == net.n_layers - 1:
            scores = u
        else:
            planes, plane_weights = [u >= 0], [1.0]
    result: np.ndarray = scores.argmax(axis=1)
    return result


@dataclass(frozen=True)
class Validation:
    """(a) and (b) for one programmed die."""

    die: str
    run: str
    mode: str
    emulated_error: float
    n_test: int
    in_situ_images: int = 0
    in_situ_error: float | None = None
    emulated_error_subset: float | None = None
    agreement: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def compare(
    emulated: np.ndarray, in_situ: np.ndarray, labels: np.ndarray
) -> tuple[float, float, float]:
    """(agreement, emulated error, in-situ error) on one subset of images."""
    if emulated.shape != in_situ.shape or emulated.shape != labels.shape:
        raise LabctlError("emulated and in-situ predictions cover different images")
    return (
        float(np.mean(emulated == in_situ)),
        float(np.mean(emulated != labels)),
        float(np.mean(in_situ != labels)),
    )

"""How a crossbar tile turns binary weights into bit-line currents: the hardware emulation.

A weight is one 1T-1MTJ cell: P (high conductance) = +1, AP = -1. With input bits x driving the
rows at the read voltage V, bit line j carries I_j = V sum_i x_i G_ij. The periphery subtracts
a reference current V sum_i x_i G_ref (G_ref = midpoint of the tile's median G_P and G_AP) and
divides by V dG (dG = half the difference of those medians), so on a perfect tile the neuron's
pre-activation is exactly sum_i x_i w_ij. On a real tile every cell contributes

    m_ij = offset_ij + gain_ij * w_ij,

offset = ((G_P + G_AP) / 2 - G_ref) / dG and gain = (G_P - G_AP) / (2 dG) for a working cell, and
for a defective cell gain = 0 and offset = (G_forced - G_ref) / dG, whatever its weight: a short
conducts its measured (high) conductance, an open nothing, a stuck cell its stuck state's G.
All tensors here are batched over dies: (dies, rows, cols).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from labctl.core.defects import DefectCode
from labctl.core.errors import DataFormatError
from labctl.training.maps import DieMaps, check_same_geometry


@dataclass(frozen=True)
class TileResponse:
    """A tile on a batch of dies in units of the nominal weight step: m = offset + gain * w."""

    offset: torch.Tensor
    gain: torch.Tensor

    @property
    def n_dies(self) -> int:
        return int(self.offset.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.offset.shape[1]), int(self.offset.shape[2])

    def effective_weights(self, signs: torch.Tensor) -> torch.Tensor:
        """(dies, rows, cols) contributions of the cells for ±1 `signs` (models, rows, cols).

        `signs` may cover only the first rows/columns of the tile (a smaller layer); the unused
        rows are never driven and the unused bit lines are not read.
        """
        rows, cols = signs.shape[-2], signs.shape[-1]
        return self.offset[:, :rows, :cols] + self.gain[:, :rows, :cols] * signs

    def select(self, index: torch.Tensor | slice | Sequence[int]) -> TileResponse:
        """The dies at `index` of the batch."""
        if isinstance(index, slice):
            return TileResponse(self.offset[index], self.gain[index])
        idx = torch.as_tensor(index, dtype=torch.long)
        return TileResponse(self.offset[idx], self.gain[idx])

    @staticmethod
    def ideal(rows: int, cols: int) -> TileResponse:
        """A perfect tile: every cell contributes exactly its weight."""
        return TileResponse(torch.zeros(1, rows, cols), torch.ones(1, rows, cols))

    @staticmethod
    def concatenate(responses: Sequence[TileResponse]) -> TileResponse:
        """Stack batches of dies of one tile along the die axis."""
        return TileResponse(
            torch.cat([r.offset for r in responses]), torch.cat([r.gain for r in responses])
        )


def forced_conductance_S(
    g_p_S: torch.Tensor, g_ap_S: torch.Tensor, defects: torch.Tensor
) -> torch.Tensor:
    """Conductance each defective cell presents whatever its weight (undefined for ok cells).

    short: its measured conductance (both reads agree; their mean), open: 0, stuck_p: the
    reading of the P write, stuck_ap: the reading of the AP write.
    """
    short = (g_p_S + g_ap_S) / 2
    forced = torch.where(defects == DefectCode.STUCK_P, g_p_S, g_ap_S)
    forced = torch.where(defects == DefectCode.SHORT, short, forced)
    return torch.where(defects == DefectCode.OPEN, torch.zeros_like(forced), forced)


def reference_levels_S(
    g_p_S: torch.Tensor, g_ap_S: torch.Tensor, defects: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per die (dies,) reference G_ref and half step dG from the medians of the working cells."""
    ok = (defects == DefectCode.OK).flatten(1)
    if not bool(ok.any(dim=1).all()):
        raise DataFormatError("a tile without any working cell has no reference level")
    median_p = _masked_median(g_p_S.flatten(1), ok)
    median_ap = _masked_median(g_ap_S.flatten(1), ok)
    half_step = (median_p - median_ap) / 2
    if not bool((half_step > 0).all()):
        raise DataFormatError("median G_P does not exceed median G_AP: no usable weight step")
    return (median_p + median_ap) / 2, half_step


def _masked_median(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per row median of the masked entries (mean of the two middle ones, as numpy's)."""
    return torch.stack([torch.quantile(v[m], 0.5) for v, m in zip(values, mask, strict=True)])


def tile_response(g_p_S: torch.Tensor, g_ap_S: torch.Tensor, defects: torch.Tensor) -> TileResponse:
    """Normalised response of a tile on a batch of dies, from (dies, rows, cols) tensors."""
    g_ref, half_step = reference_levels_S(g_p_S, g_ap_S, defects)
    g_ref = g_ref[:, None, None]
    half_step = half_step[:, None, None]
    ok = defects == DefectCode.OK
    working_offset = ((g_p_S + g_ap_S) / 2 - g_ref) / half_step
    forced_offset = (forced_conductance_S(g_p_S, g_ap_S, defects) - g_ref) / half_step
    offset = torch.where(ok, working_offset, forced_offset)
    gain = torch.where(ok, (g_p_S - g_ap_S) / (2 * half_step), torch.zeros_like(offset))
    return TileResponse(offset.to(torch.float32), gain.to(torch.float32))


def die_responses(dies: Sequence[DieMaps]) -> list[TileResponse]:
    """One TileResponse per tile covering all `dies` (same geometry), in the order given."""
    shapes = check_same_geometry(dies)
    responses = []
    for k in range(len(shapes)):
        g_p = torch.from_numpy(np.stack([d.tiles[k].g_p_S for d in dies]))
        g_ap = torch.from_numpy(np.stack([d.tiles[k].g_ap_S for d in dies]))
        defects = torch.from_numpy(np.stack([d.tiles[k].defects for d in dies]).astype(np.int64))
        responses.append(tile_response(g_p, g_ap, defects))
    return responses


def programmed_response(
    g_read_S: torch.Tensor, g_ref_S: torch.Tensor, half_step_S: torch.Tensor
) -> TileResponse:
    """A tile as programmed and read back (dies, rows, cols): every cell's weight is now fixed.

    For weight maps read from hardware after programming: each cell's measured conductance in
    the state it actually holds, normalised with the tile's reference levels (those
    `reference_levels_S` gives for its characterisation). The gain is zero, so the forward pass
    uses the read-back state whatever weights the network carries; only its periphery counts.
    """
    offset = (g_read_S - g_ref_S[:, None, None]) / half_step_S[:, None, None]
    return TileResponse(offset.to(torch.float32), torch.zeros_like(offset, dtype=torch.float32))

"""Measured conductance maps of a die, as training and evaluation consume them.

A die is a tuple of tiles; each tile holds, per cell, the conductance read after writing P
(g_p_S), after writing AP (g_ap_S) and the defect code (labctl.core.defects.DefectCode).
Conductances include the access transistor (1 / measured cell resistance), so they are exactly
what a bit line sums during inference at the read bias.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from labctl.analysis.conductance import conductance_from_resistance_S
from labctl.core.defects import DefectCode
from labctl.core.errors import DataFormatError

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class TileMap:
    """One tile's measured cells: conductance in each written state and the defect code."""

    g_p_S: FloatArray
    g_ap_S: FloatArray
    defects: NDArray[np.uint8]

    def __post_init__(self) -> None:
        shape = np.shape(self.defects)
        if len(shape) != 2 or np.shape(self.g_p_S) != shape or np.shape(self.g_ap_S) != shape:
            raise DataFormatError(
                f"tile map arrays must share one 2-D shape, got g_p {np.shape(self.g_p_S)}, "
                f"g_ap {np.shape(self.g_ap_S)}, defects {shape}"
            )
        for name in ("g_p_S", "g_ap_S"):
            g = np.asarray(getattr(self, name))
            if not np.all(np.isfinite(g)) or np.any(g < 0):
                raise DataFormatError(f"tile map {name} must be finite and non-negative")
        if np.any(np.asarray(self.defects) > max(DefectCode)):
            raise DataFormatError(f"unknown defect code {int(np.max(self.defects))} in tile map")

    @classmethod
    def from_resistances(
        cls, r_parallel_ohm: np.ndarray, r_antiparallel_ohm: np.ndarray, defects: np.ndarray
    ) -> TileMap:
        """From measured cell resistances (ohm, transistor included), as the wafer file stores."""
        return cls(
            g_p_S=conductance_from_resistance_S(r_parallel_ohm),
            g_ap_S=conductance_from_resistance_S(r_antiparallel_ohm),
            defects=np.asarray(defects, dtype=np.uint8),
        )

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = np.shape(self.defects)
        return int(rows), int(cols)

    def defect_counts(self) -> dict[str, int]:
        """Number of cells of each defect class (ok included)."""
        codes = np.bincount(np.asarray(self.defects).ravel(), minlength=len(DefectCode))
        return {code.name.lower(): int(codes[code]) for code in DefectCode}


@dataclass(frozen=True)
class DieMaps:
    """All tiles of one die, named `die_<col>_<row>`."""

    name: str
    tiles: tuple[TileMap, ...]

    @property
    def tile_shapes(self) -> tuple[tuple[int, int], ...]:
        return tuple(tile.shape for tile in self.tiles)

    def defect_counts(self) -> dict[str, int]:
        """Defect classes summed over the die's tiles."""
        total: dict[str, int] = {}
        for tile in self.tiles:
            for name, count in tile.defect_counts().items():
                total[name] = total.get(name, 0) + count
        return total

    def defect_rate(self) -> float:
        """Fraction of the die's cells with any defect."""
        counts = self.defect_counts()
        n_cells = sum(counts.values())
        return (n_cells - counts["ok"]) / n_cells if n_cells else 0.0


def check_same_geometry(dies: Sequence[DieMaps]) -> tuple[tuple[int, int], ...]:
    """The common tile shapes of `dies`; DataFormatError when they differ or there are none."""
    if not dies:
        raise DataFormatError("no die maps given")
    shapes = dies[0].tile_shapes
    for die in dies[1:]:
        if die.tile_shapes != shapes:
            raise DataFormatError(
                f"{die.name} has tiles {die.tile_shapes}, {dies[0].name} has {shapes}"
            )
    return shapes

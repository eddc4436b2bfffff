"""Defect and resistance statistics of a measured wafer, per die, as statistics-aware training
and the virtual-die sampler use them.

Per die and tile we keep: the fraction of each defect class among cells outside failed lines,
the fraction of rows and of columns that failed as a whole line (and as which class), and robust
log-normal parameters (median, 1.4826 MAD) of the working cells' G_P and of G_P / G_AP. Short
cells' conductances are pooled across the wafer, relative to their die's median G_P.
Keeping the statistics per die (rather than wafer averages) preserves the spread between good
and bad dies: the sampler draws a source die first, then fresh defect positions and devices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from labctl.core.defects import DefectCode
from labctl.core.errors import DataFormatError
from labctl.training.maps import DieMaps, TileMap, check_same_geometry

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: A row or column counts as a failed line when at least this fraction of its cells share one
#: defect class (random defects at a few per cent essentially never do).
LINE_FAILURE_FRACTION = 0.5

_N_CODES = len(DefectCode)
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class TileStatistics:
    """One tile's statistics over the source dies (first axis of every array)."""

    shape: tuple[int, int]
    #: (dies, 5) fraction of cells of each DefectCode outside failed lines (rows sum to 1).
    cell_rates: FloatArray
    #: (dies, 5) fraction of rows that failed as each class; column 0 = rows that did not fail.
    row_line_rates: FloatArray
    #: (dies, 5) the same for columns.
    col_line_rates: FloatArray
    #: (dies,) median and robust spread of ln(G_P / 1 S) over working cells.
    log_g_p_median: FloatArray
    log_g_p_sigma: FloatArray
    #: (dies,) median and robust spread of ln(G_P / G_AP) over working cells.
    log_ratio_median: FloatArray
    log_ratio_sigma: FloatArray
    #: pooled G_short / (its die's median G_P) of every short cell (may be empty).
    short_ratio_samples: FloatArray

    @property
    def n_dies(self) -> int:
        return int(self.cell_rates.shape[0])

    def with_defect_rates_scaled(self, factor: float) -> TileStatistics:
        """These statistics with every defect-class rate (cells and failed lines) times
        `factor` (capped so that no more than all cells/lines fail); resistances unchanged."""
        return replace(
            self,
            cell_rates=_scaled_rates(self.cell_rates, factor),
            row_line_rates=_scaled_rates(self.row_line_rates, factor),
            col_line_rates=_scaled_rates(self.col_line_rates, factor),
        )


@dataclass(frozen=True)
class WaferStatistics:
    """Per-die statistics of every tile, from the dies named in `die_names`."""

    die_names: tuple[str, ...]
    tiles: tuple[TileStatistics, ...]

    @property
    def tile_shapes(self) -> tuple[tuple[int, int], ...]:
        return tuple(t.shape for t in self.tiles)

    def with_defect_rates_scaled(self, factor: float) -> WaferStatistics:
        """A harsher (factor > 1) or milder wafer for training with a robustness margin."""
        if not factor > 0:
            raise ValueError(f"defect-rate factor must be > 0, got {factor}")
        return replace(self, tiles=tuple(t.with_defect_rates_scaled(factor) for t in self.tiles))

    def summary(self) -> dict[str, Any]:
        """Wafer means for reports and metadata (JSON-serialisable)."""
        tiles = []
        for k, t in enumerate(self.tiles):
            rows, cols = t.shape
            tiles.append(
                {
                    "tile": k,
                    "cell_defect_rate": {
                        code.name.lower(): float(t.cell_rates[:, code].mean())
                        for code in DefectCode
                        if code != DefectCode.OK
                    },
                    "failed_rows_per_die": float((1 - t.row_line_rates[:, 0]).mean() * rows),
                    "failed_cols_per_die": float((1 - t.col_line_rates[:, 0]).mean() * cols),
                    "median_g_p_S": float(np.exp(np.median(t.log_g_p_median))),
                    "median_g_ap_S": float(
                        np.exp(np.median(t.log_g_p_median - t.log_ratio_median))
                    ),
                }
            )
        return {"n_dies": len(self.die_names), "tiles": tiles}


def _scaled_rates(rates: FloatArray, factor: float) -> FloatArray:
    """(dies, 5) class fractions with classes 1..4 scaled, class 0 (ok) the remainder."""
    defects = rates[:, 1:] * factor
    total = defects.sum(axis=1, keepdims=True)
    defects = defects / np.maximum(total, 1.0)  # never more than every cell or line
    return np.concatenate([1.0 - defects.sum(axis=1, keepdims=True), defects], axis=1)


def failed_lines(
    defects: np.ndarray, fraction: float = LINE_FAILURE_FRACTION
) -> tuple[IntArray, IntArray]:
    """Per row and per column the class of a whole-line failure, 0 where the line is fine."""
    codes = np.asarray(defects, dtype=np.int64)
    return _line_codes(codes, fraction), _line_codes(codes.T, fraction)


def _line_codes(codes: IntArray, fraction: float) -> IntArray:
    n_lines, length = codes.shape
    counts = np.zeros((n_lines, _N_CODES), dtype=np.int64)
    for code in range(1, _N_CODES):
        counts[:, code] = np.count_nonzero(codes == code, axis=1)
    worst = counts.argmax(axis=1)
    failed = counts[np.arange(n_lines), worst] >= fraction * length
    return np.where(failed & (worst > 0), worst, 0).astype(np.int64)


def _robust_log_stats(values: FloatArray) -> tuple[float, float]:
    logs = np.log(values)
    median = float(np.median(logs))
    return median, float(_MAD_TO_SIGMA * np.median(np.abs(logs - median)))


def _line_rates(line_codes: IntArray) -> FloatArray:
    return np.bincount(line_codes, minlength=_N_CODES) / max(line_codes.size, 1)


def tile_statistics(tiles: Sequence[TileMap]) -> TileStatistics:
    """Statistics of one tile over several dies (same shape)."""
    n = len(tiles)
    cell_rates = np.zeros((n, _N_CODES))
    row_rates = np.zeros((n, _N_CODES))
    col_rates = np.zeros((n, _N_CODES))
    log_stats = np.zeros((n, 4))
    shorts: list[FloatArray] = []
    for i, tile in enumerate(tiles):
        codes = np.asarray(tile.defects, dtype=np.int64)
        row_codes, col_codes = failed_lines(codes)
        row_rates[i], col_rates[i] = _line_rates(row_codes), _line_rates(col_codes)
        outside = (row_codes[:, None] == 0) & (col_codes[None, :] == 0)
        if outside.any():
            cell_rates[i] = np.bincount(codes[outside], minlength=_N_CODES) / outside.sum()
        else:
            cell_rates[i, DefectCode.OK] = 1.0
        working = outside & (codes == DefectCode.OK)
        g_p, g_ap = np.asarray(tile.g_p_S)[working], np.asarray(tile.g_ap_S)[working]
        usable = (g_p > 0) & (g_ap > 0)
        if not usable.any():
            raise DataFormatError(f"tile {tile.shape} of die {i} has no working cells")
        log_stats[i, :2] = _robust_log_stats(g_p[usable])
        log_stats[i, 2:] = _robust_log_stats(g_p[usable] / g_ap[usable])
        short = codes == DefectCode.SHORT
        g_short = (np.asarray(tile.g_p_S)[short] + np.asarray(tile.g_ap_S)[short]) / 2
        shorts.append(g_short / np.exp(log_stats[i, 0]))
    return TileStatistics(
        shape=tiles[0].shape,
        cell_rates=cell_rates,
        row_line_rates=row_rates,
        col_line_rates=col_rates,
        log_g_p_median=log_stats[:, 0],
        log_g_p_sigma=log_stats[:, 1],
        log_ratio_median=log_stats[:, 2],
        log_ratio_sigma=log_stats[:, 3],
        short_ratio_samples=np.concatenate(shorts) if shorts else np.zeros(0),
    )


def wafer_statistics(dies: Sequence[DieMaps]) -> WaferStatistics:
    """Statistics of every tile over `dies` (which must share their geometry)."""
    shapes = check_same_geometry(dies)
    return WaferStatistics(
        die_names=tuple(d.name for d in dies),
        tiles=tuple(tile_statistics([d.tiles[k] for d in dies]) for k in range(len(shapes))),
    )

"""Adaptive reading: which cells of a fast pass are ambiguous, and measuring them again.

The fast pass reads every cell at a short integration (NPLC 0.01: about 3 % read noise on
these cells, far below their ~2x P/AP contrast), so almost every cell is classified beyond
doubt. A cell is *ambiguous* when its reads leave the classification within a few read-noise
sigmas of a decision: its P, AP or overall level near the short or open threshold, its P -> AP
span near the switching threshold, a non-switching level near the stuck-P / stuck-AP boundary,
or reads of the same state that disagree across cycles by more than read noise allows
(inconsistent). Only those cells are measured again, with the tile's sequence (per cycle: write
P, read, write AP, read) at the precise integration, and their fast reads replaced.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from labctl.analysis.classify import TileClassification
from labctl.core.defects import DefectCode

BoolArray = NDArray[np.bool_]

#: Half-width of the ambiguity band around each decision, in read-noise sigmas of one read.
AMBIGUITY_SIGMAS = 4.0
#: Read noise (log10) assumed when the tile has a single cycle (no repeated reads to measure
#: it): about 5 %, above the ~3 % of a fast read.
FALLBACK_READ_NOISE_LOG10 = 0.02


def ambiguous_cells(
    reads_parallel_ohm: NDArray[np.float64],
    reads_antiparallel_ohm: NDArray[np.float64],
    classification: TileClassification,
    sigmas: float = AMBIGUITY_SIGMAS,
) -> BoolArray:
    """(rows, cols) mask of the cells whose classification the fast reads leave in doubt.

    ``reads_*`` are (cycles, rows, cols) in ohm, ``classification`` what
    :func:`labctl.analysis.classify.classify_tile` made of them.
    """
    th = classification.thresholds
    noise = th.read_noise_log10
    if not math.isfinite(noise) or noise <= 0:
        noise = FALLBACK_READ_NOISE_LOG10
    margin = sigmas * noise
    log_p = np.log10(reads_parallel_ohm)
    log_ap = np.log10(reads_antiparallel_ohm)
    both = np.concatenate([log_p, log_ap], axis=0)
    level = np.median(both, axis=0)
    level_p = np.log10(classification.r_parallel_ohm)
    level_ap = np.log10(classification.r_antiparallel_ohm)
    short_max = math.log10(th.short_max_ohm)
    open_min = math.log10(th.open_min_ohm)
    defects = classification.defects

    def near(values: NDArray[np.float64], threshold: float, width: float = margin) -> BoolArray:
        return np.asarray(np.abs(values - threshold) < width)

    ambiguous = np.zeros(level.shape, dtype=bool)
    for threshold in (short_max, open_min):
        ambiguous |= near(level, threshold) | near(level_p, threshold) | near(level_ap, threshold)
    low, high = both.min(axis=0), both.max(axis=0)
    ambiguous |= near(high - low, th.switch_min_log10_span, margin * math.sqrt(2.0))
    stuck = np.isin(defects, (DefectCode.STUCK_P, DefectCode.STUCK_AP))
    s_p, s_ap = th.sigma_log10_r_parallel, th.sigma_log10_r_antiparallel
    boundary = ((th.median_log10_r_parallel * s_ap + th.median_log10_r_antiparallel * s_p)
                / (s_p + s_ap))
    ambiguous |= stuck & near(level, boundary)
    # Inconsistent: reads of one state spread beyond read noise (a switching cell's low and high
    # reads separately; a cell that does not switch, all its reads). Opens read noise-level
    # currents, so their resistance scatters by nature: not counted.
    mid = (low + high) / 2.0
    is_low = both < mid
    low_spread = _spread(np.where(is_low, both, np.nan))
    high_spread = _spread(np.where(is_low, np.nan, both))
    switching = (defects == DefectCode.OK) | (high - low >= th.switch_min_log10_span)
    spread = np.where(switching, np.fmax(low_spread, high_spread), high - low)
    limit = margin * math.sqrt(2.0)
    ambiguous |= (spread > limit) & (defects != DefectCode.OPEN)
    return ambiguous


def _spread(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """max - min over axis 0 ignoring NaN (0 where fewer than two values)."""
    counts = np.count_nonzero(~np.isnan(values), axis=0)
    filled_max = np.where(np.isnan(values), -np.inf, values).max(axis=0)
    filled_min = np.where(np.isnan(values), np.inf, values).min(axis=0)
    return np.where(counts >= 2, filled_max - filled_min, 0.0)

"""Where a die's defects are and what they do: its defect rate, random defective cells, failed
rows/columns, the physics of each defect type, and intermittent cells.

A die's cell defect rate comes from a two-component log-normal mixture (most dies good, a few bad);
defective cells are placed uniformly and typed by the configured weights; whole-line failures
(a broken word or bit line) open every cell of that row or column. A small fraction of the working
cells is intermittent: their reads flip at random (labctl.sim.wafer applies that at read time).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from labctl.core.defects import DefectCode
from labctl.sim.params import SimParams
from labctl.sim.physics import shunted_junction

_TYPED_CODES = np.array(
    [DefectCode.SHORT, DefectCode.OPEN, DefectCode.STUCK_P, DefectCode.STUCK_AP], dtype=np.uint8
)


def draw_die_defect_rate(rng: np.random.Generator, params: SimParams) -> float:
    """Fraction of a die's cells with a random defect (line failures come on top)."""
    if rng.random() < params.bad_die_probability:
        median, sigma = params.defect_rate_bad_median, params.defect_rate_bad_sigma_log
    else:
        median, sigma = params.defect_rate_good_median, params.defect_rate_good_sigma_log
    rate = median * float(np.exp(sigma * rng.standard_normal()))
    return min(rate, params.defect_rate_max)


def draw_cell_defects(
    rng: np.random.Generator, shape: tuple[int, int], rate: float, params: SimParams
) -> NDArray[np.uint8]:
    """(rows, cols) uint8 DefectCode map: each cell defective with probability `rate`."""
    n_cells = shape[0] * shape[1]
    defective = rng.random(n_cells) < rate
    weights = np.asarray(params.defect_weights, dtype=np.float64)
    kinds = rng.choice(_TYPED_CODES, size=int(defective.sum()), p=weights / weights.sum())
    codes = np.zeros(n_cells, dtype=np.uint8)
    codes[defective] = kinds
    return codes.reshape(shape)


def draw_line_failures(rng: np.random.Generator, params: SimParams) -> list[tuple[int, str, int]]:
    """Failed lines of one die as (tile, "row" | "col", index); each line equally likely."""
    n_failures = int(rng.poisson(params.line_failures_per_die_mean))
    lines = [
        (tile, axis, index)
        for tile, (rows, cols) in enumerate(params.tile_shapes)
        for axis, count in (("row", rows), ("col", cols))
        for index in range(count)
    ]
    if n_failures == 0:
        return []
    picks = rng.choice(len(lines), size=min(n_failures, len(lines)), replace=False)
    return [lines[int(i)] for i in sorted(picks)]


def apply_defect_physics(
    rng: np.random.Generator,
    defects: NDArray[np.uint8],
    r_p_ohm: NDArray[np.float64],
    tmr0: NDArray[np.float64],
    state_ap: NDArray[np.bool_],
    params: SimParams,
) -> None:
    """Give shorts a pinhole in parallel with their junction (partial short, a few % TMR left),
    opens their resistance (no TMR), and pin stuck cells' state; in place.

    r_p_ohm and tmr0 must hold the cells' intact junction values; for shorts they become the
    effective values of junction and pinhole together (labctl.sim.physics.shunted_junction).
    """
    shorts = defects == DefectCode.SHORT
    opens = defects == DefectCode.OPEN
    r_pin = params.r_short_median_ohm * np.exp(
        params.r_short_sigma_log * rng.standard_normal(int(shorts.sum()))
    )
    r_p_ohm[shorts], tmr0[shorts] = shunted_junction(r_p_ohm[shorts], tmr0[shorts], r_pin)
    r_p_ohm[opens] = params.r_open_median_ohm * np.exp(
        params.r_open_sigma_log * rng.standard_normal(int(opens.sum()))
    )
    tmr0[opens] = 0.0
    state_ap[defects == DefectCode.STUCK_P] = False
    state_ap[defects == DefectCode.STUCK_AP] = True


def draw_intermittent(
    rng: np.random.Generator, defects: NDArray[np.uint8], params: SimParams
) -> NDArray[np.bool_]:
    """(rows, cols) mask of intermittent cells: working cells whose reads sometimes flip."""
    return (defects == DefectCode.OK) & (rng.random(defects.shape) < params.intermittent_fraction)


def apply_line_failures(
    defects: list[NDArray[np.uint8]], failures: list[tuple[int, str, int]]
) -> None:
    """Mark every cell of each failed line OPEN (in place), whatever it was before."""
    for tile, axis, index in failures:
        if axis == "row":
            defects[tile][index, :] = DefectCode.OPEN
        else:
            defects[tile][:, index] = DefectCode.OPEN

"""Synthetic raw reads of a tile with known defects, for testing and benchmarking the classifier
and the wafer store without any instrument or simulator server.

A cell is an MTJ (log-normal R_P, TMR) in series with its access transistor (log-normal R_on);
each cycle writes every cell to P, reads, writes to AP, reads, like the die characterisation.
Shorts have a ~50 ohm barrier, opens ~1e10 ohm; reads carry relative current noise plus a
noise floor, and currents at or below the floor read as the 1e12 ohm cap, like the station's
batched reads. Healthy cells miss a write with probability ``write_error_rate``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from labctl.core.defects import DefectCode
from labctl.core.wafer_map import ALL_DIE_NAMES

FloatArray = NDArray[np.float64]

#: Tiles of the default die: layers of the 196-100-10 network.
DEFAULT_TILE_SHAPES: tuple[tuple[int, int], ...] = ((196, 100), (100, 10))

#: Largest resistance a read reports (the station caps readings at the noise floor).
READ_CAP_OHM = 1e12


@dataclass(frozen=True)
class SyntheticParams:
    """Device population and measurement of a synthetic tile (defaults close to docs/model.md)."""

    r_p_median_ohm: float = 3000.0
    r_p_sigma_log: float = 0.04
    #: TMR at the read bias (fraction).
    tmr_median: float = 1.45
    tmr_sigma_log: float = 0.05
    r_on_median_ohm: float = 1000.0
    r_on_sigma_log: float = 0.05
    r_short_median_ohm: float = 50.0
    r_short_sigma_log: float = 0.3
    r_open_median_ohm: float = 1e10
    r_open_sigma_log: float = 0.5
    v_read_V: float = 0.1
    read_noise_rel: float = 0.003
    noise_floor_A: float = 1e-12
    #: fraction of cells with a random defect, split evenly over the four defect types.
    defect_rate: float = 0.01
    #: whole bit lines (columns) that read open.
    open_columns: int = 0
    write_error_rate: float = 0.0


@dataclass(frozen=True)
class SyntheticTile:
    """Raw reads (cycles, rows, cols) in ohm and the truth that produced them (rows, cols)."""

    reads_parallel_ohm: FloatArray
    reads_antiparallel_ohm: FloatArray
    defects: NDArray[np.uint8]
    #: noise-free read resistance of each cell in P and AP (MTJ + transistor).
    r_parallel_ohm: FloatArray
    r_antiparallel_ohm: FloatArray


def synthetic_tile(
    rng: np.random.Generator,
    shape: tuple[int, int],
    cycles: int = 2,
    params: SyntheticParams | None = None,
) -> SyntheticTile:
    """Draw one tile's devices and defects, then run `cycles` P/AP write-read cycles on it."""
    p = params or SyntheticParams()
    if cycles < 1:
        raise ValueError(f"cycles must be >= 1, got {cycles}")
    defects = _draw_defects(rng, shape, p)
    r_p = p.r_p_median_ohm * np.exp(p.r_p_sigma_log * rng.standard_normal(shape))
    tmr = p.tmr_median * np.exp(p.tmr_sigma_log * rng.standard_normal(shape))
    r_on = p.r_on_median_ohm * np.exp(p.r_on_sigma_log * rng.standard_normal(shape))
    shorts = defects == DefectCode.SHORT
    opens = defects == DefectCode.OPEN
    r_p[shorts] = p.r_short_median_ohm * np.exp(
        p.r_short_sigma_log * rng.standard_normal(shorts.sum())
    )
    r_p[opens] = p.r_open_median_ohm * np.exp(p.r_open_sigma_log * rng.standard_normal(opens.sum()))
    tmr[shorts | opens] = 0.0

    state_ap = rng.random(shape) < 0.5
    state_ap[defects == DefectCode.STUCK_P] = False
    state_ap[defects == DefectCode.STUCK_AP] = True
    writable = defects == DefectCode.OK
    reads_p = np.empty((cycles, *shape))
    reads_ap = np.empty((cycles, *shape))
    for cycle in range(cycles):
        for target_ap, out in ((False, reads_p), (True, reads_ap)):
            switched = writable & (rng.random(shape) >= p.write_error_rate)
            state_ap[switched] = target_ap
            r_total = r_p * (1.0 + np.where(state_ap, tmr, 0.0)) + r_on
            out[cycle] = _read_ohm(rng, r_total, p)
    return SyntheticTile(
        reads_parallel_ohm=reads_p,
        reads_antiparallel_ohm=reads_ap,
        defects=defects,
        r_parallel_ohm=r_p + r_on,
        r_antiparallel_ohm=r_p * (1.0 + tmr) + r_on,
    )


def synthetic_die(
    seed: int | Sequence[int],
    tile_shapes: Sequence[tuple[int, int]] = DEFAULT_TILE_SHAPES,
    cycles: int = 2,
    params: SyntheticParams | None = None,
) -> list[SyntheticTile]:
    """All tiles of one synthetic die, reproducible from `seed` (an int or a list of ints)."""
    rng = np.random.default_rng(seed)
    return [synthetic_tile(rng, shape, cycles, params) for shape in tile_shapes]


def write_synthetic_wafer(
    path: str | Path,
    dies: Iterable[str] | None = None,
    seed: int = 0,
    tile_shapes: Sequence[tuple[int, int]] = DEFAULT_TILE_SHAPES,
    cycles: int = 2,
    params: SyntheticParams | None = None,
) -> Path:
    """A complete measurement file of synthetic dies (die i of the map drawn from [seed, i]),
    written through :class:`~labctl.store.WaferFile` like a sweep would; returns the path."""
    from labctl.store.wafer_file import WaferFile, resolve_die_selection

    names = resolve_die_selection(dies)
    procedure = {"synthetic": {"seed": seed, "cycles": cycles, "tile_shapes": list(tile_shapes)}}
    with WaferFile.create(
        path, f"synthetic-{seed}", {"station": "synthetic"}, procedure, dies=names
    ) as wafer:
        for name in names:
            wafer.begin_die(name)
            die_seed = [seed, ALL_DIE_NAMES.index(name)]
            for k, tile in enumerate(synthetic_die(die_seed, tile_shapes, cycles, params)):
                wafer.write_tile(name, k, tile.reads_parallel_ohm, tile.reads_antiparallel_ohm)
            wafer.complete_die(name)
    return Path(path)


def _draw_defects(
    rng: np.random.Generator, shape: tuple[int, int], p: SyntheticParams
) -> NDArray[np.uint8]:
    kinds = np.array(
        [DefectCode.SHORT, DefectCode.OPEN, DefectCode.STUCK_P, DefectCode.STUCK_AP],
        dtype=np.uint8,
    )
    defective = rng.random(shape) < p.defect_rate
    defects = np.zeros(shape, dtype=np.uint8)
    defects[defective] = rng.choice(kinds, size=int(defective.sum()))
    for col in rng.choice(shape[1], size=min(p.open_columns, shape[1]), replace=False):
        defects[:, col] = DefectCode.OPEN
    return defects


def _read_ohm(rng: np.random.Generator, r_total_ohm: FloatArray, p: SyntheticParams) -> FloatArray:
    current_A = p.v_read_V / r_total_ohm
    sigma_A = np.hypot(p.read_noise_rel * current_A, p.noise_floor_A)
    measured_A = current_A + sigma_A * rng.standard_normal(current_A.shape)
    floor_A = p.v_read_V / READ_CAP_OHM
    return np.where(
        measured_A > floor_A, p.v_read_V / np.maximum(measured_A, floor_A), READ_CAP_OHM
    )

"""Synthetic raw reads of a tile with known defects, for testing and benchmarking the classifier
and the wafer store without any instrument or simulator server.

The cell is the simulator's (labctl.sim.physics with labctl.sim.params.SimParams): an MTJ with
bias-dependent TMR in series with its access transistor, shorts and opens as the simulator gives
them, read noise from the same law, and resistances capped like the station's batched reads
(labctl.station.array_ops). Only the population differs from a simulated die: a tile here is drawn
around the wafer medians with a fixed defect rate, optional open bit lines, and healthy cells that
miss a write with probability ``write_error_rate``. Each cycle writes every cell to P, reads,
writes to AP, reads, like the die characterisation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from labctl.core.defects import DefectCode
from labctl.core.geometry import DEFAULT_READ_VOLTAGE_V, DEFAULT_TILE_SHAPES
from labctl.core.wafer_map import ALL_DIE_NAMES
from labctl.sim.defects_model import apply_defect_physics, apply_line_failures, draw_cell_defects
from labctl.sim.params import SimParams
from labctl.sim.physics import cell_current_A, mtj_resistance_ohm, noise_sigma_A, on_resistance_ohm
from labctl.station.array_ops import resistance_from_current_ohm

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class SyntheticParams:
    """Population and measurement of a synthetic tile; ``cell`` is the simulator's cell model
    (medians, device-to-device spreads, defect types and resistances, read noise)."""

    cell: SimParams = field(default_factory=SimParams)
    #: read bias (the station's default read voltage) and integration time.
    v_read_V: float = DEFAULT_READ_VOLTAGE_V
    nplc: float = 1.0
    #: fraction of cells with a random defect, typed by the cell model's defect weights.
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
    cell = p.cell
    if cycles < 1:
        raise ValueError(f"cycles must be >= 1, got {cycles}")
    defects = draw_cell_defects(rng, shape, p.defect_rate, cell)
    open_columns = rng.choice(shape[1], size=min(p.open_columns, shape[1]), replace=False)
    apply_line_failures([defects], [(0, "col", int(col)) for col in open_columns])
    r_p = cell.r_p_median_ohm * np.exp(cell.r_p_device_sigma_log * rng.standard_normal(shape))
    tmr0 = cell.tmr_median * np.exp(cell.tmr_device_sigma_log * rng.standard_normal(shape))
    r_on_nominal = cell.r_on_median_ohm * np.exp(
        cell.r_on_device_sigma_log * rng.standard_normal(shape)
    )
    state_ap = rng.random(shape) < 0.5
    apply_defect_physics(rng, defects, r_p, tmr0, state_ap, cell)
    r_on = on_resistance_ohm(
        r_on_nominal, cell.v_gate_nominal_V, cell.v_threshold_V, cell.v_gate_nominal_V
    )

    def r_mtj_ohm(ap: bool | NDArray[np.bool_]) -> FloatArray:
        return mtj_resistance_ohm(r_p, tmr0, ap, p.v_read_V, cell.tmr_v_half_V)

    writable = defects == DefectCode.OK
    reads_p = np.empty((cycles, *shape))
    reads_ap = np.empty((cycles, *shape))
    for cycle in range(cycles):
        for target_ap, out in ((False, reads_p), (True, reads_ap)):
            switched = writable & (rng.random(shape) >= p.write_error_rate)
            state_ap[switched] = target_ap
            current_A = cell_current_A(p.v_read_V, r_mtj_ohm(state_ap), r_on)
            sigma_A = noise_sigma_A(current_A, p.nplc, cell)
            measured_A = current_A + sigma_A * rng.standard_normal(shape)
            out[cycle] = resistance_from_current_ohm(p.v_read_V, measured_A)
    return SyntheticTile(
        reads_parallel_ohm=reads_p,
        reads_antiparallel_ohm=reads_ap,
        defects=defects,
        r_parallel_ohm=r_mtj_ohm(False) + r_on,
        r_antiparallel_ohm=r_mtj_ohm(True) + r_on,
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

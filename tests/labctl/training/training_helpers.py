"""Small synthetic dies and wafer files for the training tests (no simulator numbers)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from labctl.core.defects import DefectCode
from labctl.core.wafer_map import ALL_DIE_NAMES, parse_die_name
from labctl.store.layout import (
    DIES,
    KIND_MEASUREMENT,
    KIND_TRUTH,
    DieStatus,
    TileData,
    write_tile_group,
)
from labctl.store.wafer_file import write_root_attrs
from labctl.training.maps import DieMaps, TileMap

G_P_S = 2.5e-4
G_AP_S = 1.2e-4
G_SHORT_S = 9.5e-4


def synthetic_tile(
    rng: np.random.Generator,
    shape: tuple[int, int],
    rates: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
    sigma_log: float = 0.03,
    failed_rows: Sequence[int] = (),
    failed_cols: Sequence[int] = (),
) -> TileMap:
    """Log-normal G_P, G_P/G_AP, random defects at `rates` (short, open, stuck_p, stuck_ap),
    whole failed lines open; defective cells read their forced conductance in both states."""
    g_p = G_P_S * np.exp(sigma_log * rng.standard_normal(shape))
    g_ap = g_p / (G_P_S / G_AP_S) * np.exp(sigma_log * rng.standard_normal(shape))
    u = rng.random(shape)
    defects = np.zeros(shape, dtype=np.uint8)
    edges = np.cumsum(rates)
    for code, (low, high) in enumerate(zip([0.0, *edges[:-1]], edges, strict=True), start=1):
        defects[(u >= low) & (u < high)] = code
    defects[list(failed_rows), :] = DefectCode.OPEN
    defects[:, list(failed_cols)] = DefectCode.OPEN
    short = defects == DefectCode.SHORT
    g_p[short] = g_ap[short] = G_SHORT_S * np.exp(0.2 * rng.standard_normal(int(short.sum())))
    g_p[defects == DefectCode.OPEN] = g_ap[defects == DefectCode.OPEN] = 1e-12
    g_ap[defects == DefectCode.STUCK_P] = g_p[defects == DefectCode.STUCK_P]
    g_p[defects == DefectCode.STUCK_AP] = g_ap[defects == DefectCode.STUCK_AP]
    return TileMap(g_p, g_ap, defects)


def synthetic_die(
    name: str,
    seed: int,
    shapes: Sequence[tuple[int, int]] = ((12, 8), (8, 4)),
    rates: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
) -> DieMaps:
    rng = np.random.default_rng(seed)
    return DieMaps(name, tuple(synthetic_tile(rng, shape, rates) for shape in shapes))


def write_wafer_file(
    path: Path,
    dies: Sequence[DieMaps],
    statuses: dict[str, str] | None = None,
    kind: str = KIND_MEASUREMENT,
) -> Path:
    """A wafer file in the store's layout holding `dies` (complete unless `statuses` says
    otherwise; non-complete dies get no tiles): a measurement (one read per state, no write
    failures) or, with kind=KIND_TRUTH, the simulator-truth layout."""
    statuses = statuses or {}
    truth = kind == KIND_TRUTH
    with h5py.File(path, "w") as h5:
        write_root_attrs(h5, kind, "test-wafer", "{}", "{}")
        group = h5.create_group(DIES)
        for die in dies:
            status = statuses.get(die.name, DieStatus.COMPLETE.value)
            col, row = parse_die_name(die.name)
            g = group.create_group(die.name)
            g.attrs.update(
                col=col,
                row=row,
                status=status,
                started="",
                finished="",
                failure_reason="contact open" if status == "failed" else "",
            )
            if status != DieStatus.COMPLETE.value:
                continue
            for k, tile in enumerate(die.tiles):
                r_p = 1.0 / tile.g_p_S
                r_ap = 1.0 / tile.g_ap_S
                extra: dict[str, np.ndarray] = (
                    {
                        "r_on_ohm": np.full(tile.shape, 1000.0),
                        # a short's total can lie below the transistor's: keep the MTJ positive
                        "mtj_r_parallel_ohm": np.maximum(r_p - 1000.0, 1.0),
                        "mtj_tmr0": r_ap / r_p - 1,
                    }
                    if truth
                    else {
                        "write_failures": np.zeros(tile.shape, dtype=np.uint8),
                        "reads_parallel_ohm": r_p[None],
                        "reads_antiparallel_ohm": r_ap[None],
                    }
                )
                write_tile_group(
                    g,
                    TileData(
                        index=k,
                        r_parallel_ohm=r_p,
                        r_antiparallel_ohm=r_ap,
                        tmr=r_ap / r_p - 1,
                        defects=tile.defects,
                        **extra,  # type: ignore[arg-type]
                    ),
                )
    return path


DIE_NAMES = ALL_DIE_NAMES

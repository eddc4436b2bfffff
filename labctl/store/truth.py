"""The simulator's ground truth as a wafer file in the measurement layout, to score sweeps.

Maps hold what an ideal, noise-free read at zero bias and nominal gate would give: r_parallel =
R_P(MTJ) + R_on, r_antiparallel = R_P(MTJ) (1 + TMR0) + R_on, tmr = r_antiparallel / r_parallel - 1,
and the true defect codes; the MTJ's own values and R_on are stored beside them. There are no raw
reads or thresholds; the root attribute ``kind`` is ``simulator_truth``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import h5py

from labctl.core.errors import LabctlError
from labctl.core.wafer_map import die_name
from labctl.store.layout import DIES, KIND_TRUTH, DieStatus, TileData, to_json, write_tile_group
from labctl.store.publish import check_output_path, publish
from labctl.store.wafer_file import write_root_attrs

if TYPE_CHECKING:
    from labctl.sim.wafer import DieModel, VirtualWafer


#: wafer_id prefix of simulated wafers; the seed follows.
SIM_WAFER_PREFIX = "sim-seed-"


def truth_wafer_id(seed: int) -> str:
    """wafer_id of the simulated wafer with this seed (also what a sweep with --sim records)."""
    return f"{SIM_WAFER_PREFIX}{seed}"


def write_truth_file(wafer: VirtualWafer, path: str | Path, overwrite: bool = False) -> Path:
    """Write every die's ground truth of `wafer` to `path` (atomically); returns the path.

    LabctlError if `path` exists (unless `overwrite`) or cannot be written.
    """
    out = Path(path)
    if out.exists() and not overwrite:
        raise LabctlError(f"{out} already exists; choose another output")
    check_output_path(out)
    station = {"simulator": {"seed": wafer.seed}}
    procedure = {"sim_params": asdict(wafer.params)}

    def build(h5: h5py.File) -> None:
        write_root_attrs(
            h5, KIND_TRUTH, truth_wafer_id(wafer.seed), to_json(station), to_json(procedure)
        )
        dies = h5.create_group(DIES)
        dies.attrs["NX_class"] = "NXentry"
        for die in wafer.dies():
            _write_die(dies, die, created=str(h5.attrs["created"]))
        dies.attrs["default"] = next(iter(dies))

    publish(out, None, build)
    return out


def _write_die(dies: h5py.Group, die: DieModel, created: str) -> None:
    group = dies.create_group(die_name(die.col, die.row))
    group.attrs["NX_class"] = "NXsubentry"
    group.attrs["default"] = "tile_0"
    group.attrs["col"] = die.col
    group.attrs["row"] = die.row
    group.attrs["status"] = DieStatus.COMPLETE.value
    group.attrs["started"] = created
    group.attrs["finished"] = created
    group.attrs["failure_reason"] = ""
    group.attrs["gross_short"] = bool(die.gross_short)
    group.attrs["line_failures"] = json.dumps([list(f) for f in getattr(die, "line_failures", [])])
    for k in range(die.n_tiles):
        truth = die.truth(k)
        r_parallel = truth.r_p_ohm + truth.r_on_ohm
        r_antiparallel = truth.r_p_ohm * (1.0 + truth.tmr0) + truth.r_on_ohm
        write_tile_group(
            group,
            TileData(
                index=k,
                r_parallel_ohm=r_parallel,
                r_antiparallel_ohm=r_antiparallel,
                tmr=r_antiparallel / r_parallel - 1.0,
                defects=truth.defects,
                r_on_ohm=truth.r_on_ohm,
                mtj_r_parallel_ohm=truth.r_p_ohm,
                mtj_tmr0=truth.tmr0,
            ),
        )

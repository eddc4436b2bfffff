"""The wafer file's layout (docs/hdf5-format.md): names, format version, die status, and the
code that writes and reads one tile group. Writers and readers of measurement and truth files
share it so that both kinds of file have exactly the same structure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from enum import Enum
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from labctl.analysis.classify import TileThresholds
from labctl.core.defects import DEFECT_CODES
from labctl.store import validate

#: Version of the layout written by this labctl; readers refuse newer files.
FORMAT_VERSION = 1

#: Root attribute `kind`: a measured wafer, or the simulator's ground truth in the same layout.
KIND_MEASUREMENT = "measurement"
KIND_TRUTH = "simulator_truth"
KINDS = (KIND_MEASUREMENT, KIND_TRUTH)

ROOT_ATTRS = (
    "labctl_format",
    "kind",
    "wafer_id",
    "created",
    "software_version",
    "station",
    "procedure",
)
DIES = "dies"
DIE_ATTRS = ("col", "row", "status", "started", "finished", "failure_reason")

#: Datasets of every complete tile, and the extra ones of each kind of file.
TILE_MAPS = ("r_parallel", "r_antiparallel", "tmr", "defects")
TILE_EXTRA = {
    KIND_MEASUREMENT: ("write_failures", "reads_parallel", "reads_antiparallel"),
    KIND_TRUTH: ("r_on", "mtj_r_parallel", "mtj_tmr0"),
}

FloatArray = NDArray[np.float64]

_COMPRESSION: dict[str, Any] = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


class DieStatus(str, Enum):
    """A die's `status` attribute. Only `complete` dies carry final data."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"


def utc_now_iso() -> str:
    """Current time as ISO 8601 UTC with a Z suffix, e.g. ``2025-01-31T22:05:09Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_TILE_NAME = re.compile(r"tile_(0|[1-9][0-9]{0,3})", re.ASCII)


def tile_group_name(index: int) -> str:
    return f"tile_{index}"


def parse_tile_group_name(name: str) -> int | None:
    """k for ``tile_<k>`` exactly as :func:`tile_group_name` writes it (ASCII digits, no
    leading zero, k < 10 000), None for anything else."""
    match = _TILE_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


def to_json(value: Any) -> str:
    """JSON text of a mapping given as dict or as JSON text (validated)."""
    if isinstance(value, str):
        json.loads(value)
        return value
    return json.dumps(value, sort_keys=True, default=str)


@dataclass(frozen=True)
class TileData:
    """One tile as stored: maps (rows, cols) and, for measurements, the raw reads.

    A partial tile (a checkpoint of a running die) has NaN in rows not yet measured and no
    defects, write failures, thresholds or reads.
    """

    index: int
    r_parallel_ohm: FloatArray
    r_antiparallel_ohm: FloatArray
    tmr: FloatArray
    defects: NDArray[np.uint8] | None = None
    write_failures: NDArray[np.uint8] | None = None
    thresholds: TileThresholds | None = None
    reads_parallel_ohm: FloatArray | None = None
    reads_antiparallel_ohm: FloatArray | None = None
    rows_done: int | None = None
    #: truth files only: transistor on-resistance and the MTJ's own R_P and zero-bias TMR.
    r_on_ohm: FloatArray | None = None
    mtj_r_parallel_ohm: FloatArray | None = None
    mtj_tmr0: FloatArray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.r_parallel_ohm.shape[0]), int(self.r_parallel_ohm.shape[1])

    @property
    def complete(self) -> bool:
        return self.defects is not None and self.measured_rows == self.shape[0]

    @property
    def measured_rows(self) -> int:
        return self.shape[0] if self.rows_done is None else self.rows_done


def write_tile_group(die_group: h5py.Group, tile: TileData) -> None:
    """Create ``tile_<k>`` under `die_group` (replacing any previous one) with NeXus attributes."""
    name = tile_group_name(tile.index)
    if name in die_group:
        del die_group[name]
    group = die_group.create_group(name)
    rows, cols = tile.shape
    group.attrs["NX_class"] = "NXdata"
    group.attrs["signal"] = "r_parallel"
    group.attrs["axes"] = ["row", "col"]
    group.attrs["row_indices"] = 0
    group.attrs["col_indices"] = 1
    group.attrs["rows"] = rows
    group.attrs["cols"] = cols
    group.attrs["rows_done"] = tile.measured_rows
    group.attrs["complete"] = tile.complete
    aux = ["r_antiparallel", "tmr"] + (["defects"] if tile.defects is not None else [])
    group.attrs["auxiliary_signals"] = aux
    _axis(group, "row", rows)
    _axis(group, "col", cols)

    _map(group, "r_parallel", tile.r_parallel_ohm, "ohm", "R_P (read, incl. access transistor)")
    _map(
        group,
        "r_antiparallel",
        tile.r_antiparallel_ohm,
        "ohm",
        "R_AP (read, incl. access transistor)",
    )
    _map(group, "tmr", tile.tmr, "1", "apparent TMR = R_AP / R_P - 1")
    if tile.defects is not None:
        defects = _map(group, "defects", tile.defects, "", "defect code", dtype=np.uint8)
        defects.attrs["codes"] = json.dumps(DEFECT_CODES)
        if tile.thresholds is not None:
            for key, value in tile.thresholds.as_attrs().items():
                defects.attrs[key] = value
    if tile.write_failures is not None:
        _map(
            group,
            "write_failures",
            tile.write_failures,
            "",
            "reads on the wrong side of the cell's own P/AP midpoint",
            dtype=np.uint8,
        )
    for name_, reads, state in (
        ("reads_parallel", tile.reads_parallel_ohm, "P"),
        ("reads_antiparallel", tile.reads_antiparallel_ohm, "AP"),
    ):
        if reads is not None:
            ds = group.create_dataset(
                name_,
                data=np.asarray(reads, dtype=np.float32),
                chunks=(1, rows, cols),
                **_COMPRESSION,
            )
            ds.attrs["units"] = "ohm"
            ds.attrs["long_name"] = f"raw reads after writing every cell to {state}"
            ds.attrs["axes"] = ["cycle", "row", "col"]
    for name_, array, units, long_name in (
        ("r_on", tile.r_on_ohm, "ohm", "access-transistor on-resistance at nominal gate"),
        ("mtj_r_parallel", tile.mtj_r_parallel_ohm, "ohm", "MTJ R_P without transistor"),
        ("mtj_tmr0", tile.mtj_tmr0, "1", "MTJ TMR at zero bias"),
    ):
        if array is not None:
            _map(group, name_, array, units, long_name)


def read_tile_group(
    group: h5py.Group, index: int, with_reads: bool = False, where: str | None = None
) -> TileData:
    """Inverse of :func:`write_tile_group` (maps as float64), validated on the way
    (labctl.store.validate): every dataset's storage, shape (the group's recorded `rows` x
    `cols`) and type before it is read, its values after. DataFormatError names what is wrong;
    `where` names the group in it (default: its HDF5 path)."""
    where = where or group.name
    geometry = validate.tile_geometry(group, where)
    shape = geometry.shape
    #: a partial tile (checkpoint of a running die) has no defects and NaN where not yet read
    partial = "defects" not in group

    def resistance(name: str, cycles: bool = False) -> FloatArray:
        values = validate.read_checked(
            group, name, where, (None, *shape) if cycles else shape, validate.FLOAT
        )
        validate.check_resistance(values, name, where, allow_nan=partial)
        return values

    def ratio(name: str) -> FloatArray:
        values = validate.read_checked(group, name, where, shape, validate.FLOAT)
        validate.check_finite(values, name, where, low=-1.0, allow_nan=partial)
        return values

    def optional(name: str, read: Callable[[str], FloatArray]) -> FloatArray | None:
        return read(name) if name in group else None

    defects = thresholds = failures = None
    if not partial:
        defects = validate.read_checked(group, "defects", where, shape, validate.UINT8)
        validate.check_defects(defects, "defects", where)
        ds = group["defects"]
        if "threshold_method" in ds.attrs:
            thresholds = TileThresholds.from_attrs({
                f"threshold_{f.name}": validate.attr(ds, f"threshold_{f.name}", where)
                for f in fields(TileThresholds)
            })
    if "write_failures" in group:
        failures = validate.read_checked(group, "write_failures", where, shape, validate.UINT8)
    return TileData(
        index=index,
        r_parallel_ohm=resistance("r_parallel"),
        r_antiparallel_ohm=resistance("r_antiparallel"),
        tmr=ratio("tmr"),
        defects=defects,
        write_failures=failures,
        thresholds=thresholds,
        reads_parallel_ohm=(
            optional("reads_parallel", lambda n: resistance(n, cycles=True)) if with_reads else None
        ),
        reads_antiparallel_ohm=(
            optional("reads_antiparallel", lambda n: resistance(n, cycles=True))
            if with_reads else None
        ),
        rows_done=geometry.rows_done,
        r_on_ohm=optional("r_on", resistance),
        mtj_r_parallel_ohm=optional("mtj_r_parallel", resistance),
        mtj_tmr0=optional("mtj_tmr0", ratio),
    )


def _axis(group: h5py.Group, name: str, length: int) -> None:
    ds = group.create_dataset(name, data=np.arange(length, dtype=np.int32))
    ds.attrs["units"] = ""
    ds.attrs["long_name"] = f"{name} index"


def _map(
    group: h5py.Group,
    name: str,
    data: NDArray[Any],
    units: str,
    long_name: str,
    dtype: type = np.float32,
) -> h5py.Dataset:
    array: NDArray[Any] = np.asarray(data, dtype=dtype)
    ds = group.create_dataset(name, data=array, chunks=array.shape, **_COMPRESSION)
    ds.attrs["units"] = units
    ds.attrs["long_name"] = long_name
    return ds

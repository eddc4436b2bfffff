"""Weight sets programmed onto a die: each run's read-back map, under the die it was written to.

Layout (docs/hdf5-format.md, "Programmed runs"): ``/dies/<die>/programmed/run_<NNNN>/`` with the
weights' identity as attributes and per tile ``tile_<k>/`` the target states, the read-back
resistance, the pulses spent per cell and the defect map as programming left it (new defects
added). Each run is added by one atomic publish (labctl.store.publish): a reader sees the file
with or without the whole run, never half of it, and the single-writer lock keeps a sweep and a
programming run from writing the same file at once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from labctl.core.errors import DataFormatError, LabctlError
from labctl.store import validate
from labctl.store.layout import DIES, DieStatus, utc_now_iso
from labctl.store.publish import publish, remove_stray_files
from labctl.store.reader import HDF5_DAMAGE, WaferReader
from labctl.store.wafer_file import _WriterLock

PROGRAMMED = "programmed"
RUN_PREFIX = "run_"
_RUN_NAME = re.compile(r"run_[0-9]{4,6}", re.ASCII)
_COMPRESSION: dict[str, Any] = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


@dataclass(frozen=True)
class ProgrammedTile:
    """One tile as write-verify left it (all arrays rows x cols of the physical tile)."""

    #: state each cell was written towards: True = AP (weight -1), False = P (weight +1).
    target_ap: NDArray[np.bool_]
    #: resistance read back after the last pulse, ohm (access transistor included).
    r_read_ohm: NDArray[np.float64]
    #: write pulses the cell received in this run.
    pulses: NDArray[np.uint8]
    #: defect codes after programming: the characterisation's, plus the new ones.
    defects: NDArray[np.uint8]
    #: cells found defective by this run (they never reached their target).
    new_defects: NDArray[np.bool_]
    #: cells not holding their target: working cells read on the wrong side of their midpoint,
    #: known-defective cells unless stuck in the target state.
    missed: NDArray[np.bool_]

    def __post_init__(self) -> None:
        shape = np.shape(self.target_ap)
        for name in ("r_read_ohm", "pulses", "defects", "new_defects", "missed"):
            if np.shape(getattr(self, name)) != shape:
                raise DataFormatError(
                    f"programmed tile {name} is {np.shape(getattr(self, name))}, not {shape}"
                )


@dataclass(frozen=True)
class ProgrammedRun:
    """A weight set written onto one die, with what it was and how it went."""

    die: str
    #: identity of the weights: file, sha256, mode, metadata (JSON-ready).
    weights: dict[str, Any]
    #: write-verify settings (max pulses, amplitude, width, nplc ...).
    settings: dict[str, Any]
    tiles: tuple[ProgrammedTile, ...]
    #: physical row of each logical input per layer (the routing the weights were written with).
    routing_rows: tuple[tuple[int, ...], ...] = ()
    created: str = field(default_factory=utc_now_iso)
    name: str = ""

    def summary(self) -> dict[str, int]:
        """Cell counts: programmed, missed, new defects, pulses."""
        return {
            "cells": int(sum(t.target_ap.size for t in self.tiles)),
            "missed": int(sum(int(t.missed.sum()) for t in self.tiles)),
            "new_defects": int(sum(int(t.new_defects.sum()) for t in self.tiles)),
            "pulses": int(sum(int(t.pulses.sum(dtype=np.int64)) for t in self.tiles)),
        }


def add_programmed_run(path: str | Path, run: ProgrammedRun) -> str:
    """Add `run` under its die in the wafer file at `path` (atomic publish); returns its name.

    The die must exist and be complete (its characterisation is the reference of the run).
    LabctlError when another labctl process writes the file.
    """
    path = Path(path)
    lock = _WriterLock.acquire(path)
    try:
        remove_stray_files(path)
        with WaferReader(path) as reader:  # validated (labctl.store.validate)
            name = _next_run_name(reader, run.die)
        publish(path, path, lambda h5: _write_run(h5, run, name))
    finally:
        lock.release()
    return name


def programmed_run_names(path: str | Path, die: str) -> list[str]:
    """Names of the runs stored under `die`, oldest first (empty if none)."""
    with WaferReader(path) as reader:
        return _run_names(reader, die)


def read_programmed_run(path: str | Path, die: str, run: str | None = None) -> ProgrammedRun:
    """Run `run` of `die` (default: the latest); DataFormatError / LabctlError naming the gap.

    Validated like every store reader (labctl.store.validate): each dataset's storage, type and
    shape (the die's tile geometry) before it is read, its values after."""
    path = Path(path)
    with WaferReader(path) as reader:
        names = _run_names(reader, die)
        if not names:
            raise LabctlError(f"{path}: {die} has no programmed run; run labctl program first")
        name = names[-1] if run is None else run
        if name not in names:
            raise LabctlError(
                f"{path}: {die} has no programmed run {validate.quoted(name)} "
                f"({', '.join(names)})"
            )
        die_group = reader.die_group(die)
        group = die_group[PROGRAMMED][name]
        where = f"{path}: /{DIES}/{die}/{PROGRAMMED}/{name}"
        try:
            return _read_run(reader, die, name, group, where)
        except HDF5_DAMAGE as exc:
            raise DataFormatError(f"{where} is damaged ({validate.first_line(exc)})") from exc


def _read_run(
    reader: WaferReader, die: str, name: str, group: h5py.Group, where: str
) -> ProgrammedRun:
    n_tiles = validate.int_attr(group, "n_tiles", where, 1, validate.MAX_TILES)
    tiles = []
    for k in range(n_tiles):
        if k not in reader.dies[die].tiles:
            raise DataFormatError(f"{where}: tile_{k} was not characterised on {die}")
        shape = validate.tile_geometry(reader.die_group(die)[f"tile_{k}"], where).shape
        t = group.get(f"tile_{k}")
        tile_where = f"{where}/tile_{k}"
        if not isinstance(t, h5py.Group):
            raise DataFormatError(f"{tile_where} is missing or not a group")

        r_read = validate.read_checked(t, "r_read", tile_where, shape, validate.FLOAT)
        validate.check_resistance(r_read, "r_read", tile_where)
        defects = validate.read_checked(t, "defects", tile_where, shape, validate.UINT8)
        validate.check_defects(defects, "defects", tile_where)
        tiles.append(
            ProgrammedTile(
                target_ap=_flags(t, "target_ap", tile_where, shape).astype(bool),
                r_read_ohm=r_read,
                pulses=validate.read_checked(t, "pulses", tile_where, shape, validate.UINT8),
                defects=defects,
                new_defects=_flags(t, "new_defects", tile_where, shape).astype(bool),
                missed=_flags(t, "missed", tile_where, shape).astype(bool),
            )
        )
    return ProgrammedRun(
        die=die,
        weights=_json_object(group, "weights", where),
        settings=_json_object(group, "settings", where),
        tiles=tuple(tiles),
        routing_rows=_routing_rows(group, where, n_tiles),
        created=validate.text_attr(group, "created", where),
        name=name,
    )


def _flags(group: h5py.Group, name: str, where: str, shape: tuple[int, int]) -> NDArray[np.uint8]:
    values = validate.read_checked(group, name, where, shape, validate.UINT8)
    validate.check_flags(values, name, where)
    return values


def _json_object(group: h5py.Group, name: str, where: str) -> dict[str, Any]:
    text = validate.text_attr(group, name, where, one_line=False,
                              max_chars=validate.MAX_ATTR_BYTES)
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DataFormatError(f"{where}: attribute {name} is not JSON") from exc
    if not isinstance(value, dict):
        raise DataFormatError(f"{where}: attribute {name} is not a JSON object")
    return value


def _routing_rows(group: h5py.Group, where: str, n_tiles: int) -> tuple[tuple[int, ...], ...]:
    """Per layer, the physical row of each logical input: small non-negative integers."""
    text = validate.text_attr(group, "routing_rows", where, one_line=False,
                              max_chars=validate.MAX_ATTR_BYTES)
    try:
        rows = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DataFormatError(f"{where}: attribute routing_rows is not JSON") from exc
    fine = isinstance(rows, list) and len(rows) <= n_tiles and all(
        isinstance(layer, list) and all(
            isinstance(r, int) and not isinstance(r, bool) and 0 <= r < validate.MAX_TILE_SIDE
            for r in layer
        )
        for layer in rows
    )
    if not fine:
        raise DataFormatError(f"{where}: attribute routing_rows is not lists of row numbers")
    return tuple(tuple(layer) for layer in rows)


def _run_names(reader: WaferReader, die: str) -> list[str]:
    """Names of the runs under `die` (``run_<NNNN>`` exactly; anything else is ignored)."""
    programmed = reader.die_group(die).get(PROGRAMMED)
    if programmed is None:
        return []
    if not isinstance(programmed, h5py.Group):
        raise DataFormatError(f"{reader.path}: /{DIES}/{die}/{PROGRAMMED} is not a group")
    return sorted(n for n in programmed if _RUN_NAME.fullmatch(n)
                  and isinstance(programmed[n], h5py.Group))


def _next_run_name(reader: WaferReader, die: str) -> str:
    record = reader.dies.get(die)
    if record is None:
        raise LabctlError(f"{reader.path}: no die {validate.quoted(die)} in this file")
    if record.status is not DieStatus.COMPLETE:
        raise LabctlError(
            f"{reader.path}: {die} is not complete; characterise it before programming"
        )
    numbers = [int(n[len(RUN_PREFIX):]) for n in _run_names(reader, die)]
    return f"{RUN_PREFIX}{max(numbers, default=0) + 1:04d}"


def _write_run(h5: h5py.File, run: ProgrammedRun, name: str) -> None:
    programmed = h5[DIES][run.die].require_group(PROGRAMMED)
    group = programmed.create_group(name)
    group.attrs["created"] = run.created
    group.attrs["weights"] = json.dumps(run.weights, sort_keys=True)
    group.attrs["settings"] = json.dumps(run.settings, sort_keys=True)
    group.attrs["routing_rows"] = json.dumps([list(map(int, r)) for r in run.routing_rows])
    group.attrs["summary"] = json.dumps(run.summary(), sort_keys=True)
    group.attrs["n_tiles"] = np.int64(len(run.tiles))
    for k, tile in enumerate(run.tiles):
        t = group.create_group(f"tile_{k}")
        datasets: list[tuple[str, Any, str, str]] = [
            ("target_ap", tile.target_ap.astype(np.uint8), "", "target state (1 = AP = weight -1)"),
            ("r_read", tile.r_read_ohm.astype(np.float32), "ohm", "resistance read back"),
            ("pulses", tile.pulses.astype(np.uint8), "", "write pulses received"),
            ("defects", tile.defects.astype(np.uint8), "", "defect codes after programming"),
            ("new_defects", tile.new_defects.astype(np.uint8), "", "found defective by this run"),
            ("missed", tile.missed.astype(np.uint8), "", "read-back state is not the target"),
        ]
        for ds_name, data, units, long_name in datasets:
            ds = t.create_dataset(ds_name, data=data, chunks=data.shape, **_COMPRESSION)
            ds.attrs["units"] = units
            ds.attrs["long_name"] = long_name

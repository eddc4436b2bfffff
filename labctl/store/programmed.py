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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from labctl.core.errors import DataFormatError, LabctlError
from labctl.store.layout import DIES, DieStatus, utc_now_iso
from labctl.store.publish import publish, remove_stray_files
from labctl.store.reader import open_hdf5_read_only
from labctl.store.wafer_file import _WriterLock

PROGRAMMED = "programmed"
RUN_PREFIX = "run_"
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
        with open_hdf5_read_only(path) as h5:
            name = _next_run_name(h5, path, run.die)
        publish(path, path, lambda h5: _write_run(h5, run, name))
    finally:
        lock.release()
    return name


def programmed_run_names(path: str | Path, die: str) -> list[str]:
    """Names of the runs stored under `die`, oldest first (empty if none)."""
    with open_hdf5_read_only(Path(path)) as h5:
        group = _die_group(h5, Path(path), die).get(PROGRAMMED)
        return sorted(group) if group is not None else []


def read_programmed_run(path: str | Path, die: str, run: str | None = None) -> ProgrammedRun:
    """Run `run` of `die` (default: the latest); DataFormatError / LabctlError naming the gap."""
    path = Path(path)
    with open_hdf5_read_only(path) as h5:
        programmed = _die_group(h5, path, die).get(PROGRAMMED)
        names = sorted(programmed) if programmed is not None else []
        if not names:
            raise LabctlError(f"{path}: {die} has no programmed run; run labctl program first")
        name = names[-1] if run is None else run
        if name not in names:
            raise LabctlError(f"{path}: {die} has no programmed run {name!r} ({', '.join(names)})")
        group = programmed[name]
        try:
            tiles = []
            for k in range(int(group.attrs["n_tiles"])):
                t = group[f"tile_{k}"]
                tiles.append(
                    ProgrammedTile(
                        target_ap=np.asarray(t["target_ap"][()], dtype=bool),
                        r_read_ohm=np.asarray(t["r_read"][()], dtype=np.float64),
                        pulses=np.asarray(t["pulses"][()], dtype=np.uint8),
                        defects=np.asarray(t["defects"][()], dtype=np.uint8),
                        new_defects=np.asarray(t["new_defects"][()], dtype=bool),
                        missed=np.asarray(t["missed"][()], dtype=bool),
                    )
                )
            return ProgrammedRun(
                die=die,
                weights=json.loads(str(group.attrs["weights"])),
                settings=json.loads(str(group.attrs["settings"])),
                tiles=tuple(tiles),
                routing_rows=tuple(tuple(r) for r in json.loads(str(group.attrs["routing_rows"]))),
                created=str(group.attrs["created"]),
                name=name,
            )
        except (KeyError, ValueError, json.JSONDecodeError) as exc:
            where = f"/{DIES}/{die}/{PROGRAMMED}/{name}"
            raise DataFormatError(f"{path}: {where} is damaged: {exc}") from exc


def _die_group(h5: h5py.File, path: Path, die: str) -> h5py.Group:
    if DIES not in h5 or die not in h5[DIES]:
        raise LabctlError(f"{path}: no die {die!r} in this file")
    return h5[DIES][die]


def _next_run_name(h5: h5py.File, path: Path, die: str) -> str:
    group = _die_group(h5, path, die)
    if str(group.attrs.get("status")) != DieStatus.COMPLETE.value:
        raise LabctlError(f"{path}: {die} is not complete; characterise it before programming")
    existing = sorted(group[PROGRAMMED]) if PROGRAMMED in group else []
    numbers = [int(n[len(RUN_PREFIX):]) for n in existing if n[len(RUN_PREFIX):].isdigit()]
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

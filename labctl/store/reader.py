"""Read-only access to a published wafer file, for inspect, report, the GUI and training.

The writer never edits a published file in place (see :mod:`labctl.store.publish`), so an open
reader holds a consistent snapshot for as long as it likes; reopen to see newer dies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from labctl.core.errors import DataFormatError, LabctlError
from labctl.core.wafer_map import WAFER_MAP, die_name
from labctl.store import validate
from labctl.store.layout import (
    DIE_ATTRS,
    DIES,
    FORMAT_VERSION,
    KIND_MEASUREMENT,
    KIND_TRUTH,
    KINDS,
    ROOT_ATTRS,
    TILE_EXTRA,
    TILE_MAPS,
    DieStatus,
    TileData,
    parse_tile_group_name,
    read_tile_group,
    tile_group_name,
)

_MAP_ORDER = {die_name(col, row): i for i, (col, row) in enumerate(WAFER_MAP)}


@dataclass(frozen=True)
class WaferInfo:
    """Root attributes of a wafer file."""

    path: Path
    labctl_format: int
    kind: str
    wafer_id: str
    created: str
    software_version: str
    station: dict[str, Any]
    procedure: dict[str, Any]


@dataclass(frozen=True)
class DieRecord:
    """A die's attributes and which tile groups it has."""

    name: str
    col: int
    row: int
    status: DieStatus
    started: str
    finished: str
    failure_reason: str
    tiles: tuple[int, ...]


def die_sort_key(name: str) -> tuple[int, str]:
    """Wafer-map (prober stepping) order first, anything else after, by name."""
    return (_MAP_ORDER.get(name, len(_MAP_ORDER)), name)


class WaferReader:
    """An open, validated wafer file (measurement or simulator truth)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._h5 = validate.open_checked(self.path)
        try:
            self.info = _read_info(self._h5, self.path)
            self.dies = _read_dies(self._h5, self.path, self.info.kind)
        except HDF5_DAMAGE as exc:
            self._h5.close()
            raise DataFormatError(f"{self.path} is damaged ({validate.first_line(exc)})") from exc
        except BaseException:
            self._h5.close()
            raise

    def tile(self, die: str, index: int, with_reads: bool = False) -> TileData:
        """One tile of `die` (maps as float64; raw reads only if asked for)."""
        record = self.dies.get(die)
        if record is None:
            raise LabctlError(f"{self.path}: no die {validate.quoted(die)} in this file")
        if index not in record.tiles:
            raise LabctlError(f"{self.path}: {die} has no tile {index}")
        try:
            group = self._h5[DIES][die][tile_group_name(index)]
            where = f"{self.path}: /{DIES}/{die}/tile_{index}"
            return read_tile_group(group, index, with_reads=with_reads, where=where)
        except HDF5_DAMAGE as exc:
            raise DataFormatError(
                f"{self.path}: {die}/tile_{index} is damaged ({validate.first_line(exc)})"
            ) from exc

    def die_group(self, die: str) -> h5py.Group:
        """The HDF5 group of `die` (validated at open), for store modules that read more of it;
        LabctlError if the file has no such die."""
        if die not in self.dies:
            raise LabctlError(f"{self.path}: no die {validate.quoted(die)} in this file")
        group: h5py.Group = self._h5[DIES][die]
        return group

    def tiles(self, die: str, with_reads: bool = False) -> list[TileData]:
        """All tiles of `die`, by index."""
        return [self.tile(die, k, with_reads) for k in self.dies[die].tiles]

    def close(self) -> None:
        self._h5.close()

    def __enter__(self) -> WaferReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


#: What h5py and numpy raise on a damaged file (a truncated or overwritten object header, a
#: dataset of the wrong shape or type): all reported as DataFormatError.
HDF5_DAMAGE: tuple[type[Exception], ...] = (
    KeyError, OSError, ValueError, TypeError, IndexError, RuntimeError, UnicodeDecodeError,
)


def open_wafer(path: str | Path) -> WaferReader:
    """Open and validate a wafer file; DataFormatError (one line) if it is not a usable one."""
    return WaferReader(path)


#: Kept here for callers that open a file themselves (see labctl.store.validate).
open_hdf5_read_only = validate.open_hdf5_read_only


def _read_info(h5: h5py.File, path: Path) -> WaferInfo:
    attrs = h5.attrs
    where = f"{path}: /"
    if "labctl_format" not in attrs:
        raise DataFormatError(f"{path} is not a labctl wafer file (no labctl_format attribute)")
    raw = validate.attr(h5, "labctl_format", where)
    if isinstance(raw, (bool, np.bool_)) or not isinstance(raw, (int, np.integer)):
        raise DataFormatError(
            f"{path}: labctl_format must be an integer, got {validate.shown(repr(raw))}"
        )
    version = int(raw)
    if version > FORMAT_VERSION:
        raise DataFormatError(
            f"{path} has labctl_format {version}, newer than this labctl supports "
            f"({FORMAT_VERSION}); upgrade labctl"
        )
    if version < 1:
        raise DataFormatError(f"{path}: invalid labctl_format {version}")
    missing = [name for name in ROOT_ATTRS if name not in attrs]
    if missing:
        raise DataFormatError(f"{path}: missing root attribute(s) {', '.join(missing)}")
    kind = validate.text_attr(h5, "kind", where)
    if kind not in KINDS:
        raise DataFormatError(f"{path}: unknown kind {kind!r} (expected one of {KINDS})")
    if DIES not in h5 or not isinstance(h5[DIES], h5py.Group):
        raise DataFormatError(f"{path}: missing group /{DIES}")
    return WaferInfo(
        path=path,
        labctl_format=version,
        kind=kind,
        wafer_id=validate.text_attr(h5, "wafer_id", where),
        created=validate.text_attr(h5, "created", where),
        software_version=validate.text_attr(h5, "software_version", where),
        station=_json_attr(h5, "station", path),
        procedure=_json_attr(h5, "procedure", path),
    )


def _json_attr(h5: h5py.File, name: str, path: Path) -> dict[str, Any]:
    raw = validate.text_attr(h5, name, f"{path}: /", one_line=False,
                             max_chars=validate.MAX_ATTR_BYTES)
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DataFormatError(
            f"{path}: root attribute {name} is not JSON ({validate.shown(str(exc))})"
        ) from exc
    if not isinstance(value, dict):
        raise DataFormatError(f"{path}: root attribute {name} must be a JSON object")
    return value


def _read_dies(h5: h5py.File, path: Path, kind: str) -> dict[str, DieRecord]:
    records: dict[str, DieRecord] = {}
    names = list(h5[DIES])
    for name in names:
        validate.check_die_name(name, f"{path}: /{DIES}")
    for name in sorted(names, key=die_sort_key):
        group = h5[DIES][name]
        where = f"{path}: /{DIES}/{name}"
        col, row = validate.check_die_name(name, f"{path}: /{DIES}")
        if not isinstance(group, h5py.Group):
            raise DataFormatError(f"{where} is not a group")
        missing = [a for a in DIE_ATTRS if a not in group.attrs]
        if missing:
            raise DataFormatError(f"{where} lacks attribute(s) {', '.join(missing)}")
        position = (validate.int_attr(group, "col", where, 0, 99),
                    validate.int_attr(group, "row", where, 0, 99))
        if position != (col, row):
            raise DataFormatError(f"{where} has col, row = {position}, not its name's")
        status_text = validate.text_attr(group, "status", where)
        try:
            status = DieStatus(status_text)
        except ValueError:
            raise DataFormatError(f"{where} has unknown status {status_text!r}") from None
        tiles = tuple(sorted(k for k in map(parse_tile_group_name, group) if k is not None))
        if len(tiles) > validate.MAX_TILES:
            raise DataFormatError(f"{where} has {len(tiles)} tiles (at most {validate.MAX_TILES})")
        _check_tiles(group, where, kind, tiles, complete=status is DieStatus.COMPLETE)
        records[name] = DieRecord(
            name=name,
            col=col,
            row=row,
            status=status,
            started=validate.text_attr(group, "started", where),
            finished=validate.text_attr(group, "finished", where),
            failure_reason=validate.text_attr(group, "failure_reason", where),
            tiles=tiles,
        )
    return records


def _check_tiles(
    group: h5py.Group, where: str, kind: str, tiles: tuple[int, ...], complete: bool
) -> None:
    """Every tile's recorded geometry is bounded and its datasets have that shape and an allowed
    type and storage (no data read); a complete die has tiles 0 ... n-1, all complete."""
    if complete and (not tiles or tiles != tuple(range(len(tiles)))):
        raise DataFormatError(f"{where} is complete but has tiles {list(tiles)} (need 0 ... n-1)")
    cells = 0
    for k in tiles:
        tile = group[tile_group_name(k)]
        tile_where = f"{where}/tile_{k}"
        if not isinstance(tile, h5py.Group):
            raise DataFormatError(f"{tile_where} is not a group")
        geometry = validate.tile_geometry(tile, tile_where)
        cells += geometry.rows * geometry.cols
        if cells > validate.MAX_DIE_CELLS:
            raise DataFormatError(f"{where} has more than {validate.MAX_DIE_CELLS} cells")
        if complete:
            required = TILE_MAPS + TILE_EXTRA[kind]
            missing = [name for name in required if name not in tile]
            if missing:
                raise DataFormatError(f"{tile_where} lacks dataset(s) {', '.join(missing)}")
            if geometry.rows_done != geometry.rows:
                raise DataFormatError(f"{tile_where} is complete but has rows_done "
                                      f"{geometry.rows_done} of {geometry.rows}")
        for name, kind_, shape in _TILE_DATASETS:
            if name in tile or name in _ALWAYS:
                dims = (None, *geometry.shape) if shape == "reads" else geometry.shape
                validate.checked_dataset(tile, name, tile_where, dims, kind_)


#: Every dataset a tile group may hold: name, kind of values, map or raw reads.
_TILE_DATASETS = (
    *((name, validate.FLOAT, "map") for name in ("r_parallel", "r_antiparallel", "tmr")),
    *((name, validate.UINT8, "map") for name in ("defects", "write_failures")),
    *((name, validate.FLOAT, "reads") for name in TILE_EXTRA[KIND_MEASUREMENT][1:]),
    *((name, validate.FLOAT, "map") for name in TILE_EXTRA[KIND_TRUTH]),
)
_ALWAYS = ("r_parallel", "r_antiparallel", "tmr")

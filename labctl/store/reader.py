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
from labctl.core.wafer_map import WAFER_MAP, die_name, parse_die_name
from labctl.store.layout import (
    DIE_ATTRS,
    DIES,
    FORMAT_VERSION,
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
        self._h5 = open_hdf5_read_only(self.path)
        try:
            self.info = _read_info(self._h5, self.path)
            self.dies = _read_dies(self._h5, self.path, self.info.kind)
        except HDF5_DAMAGE as exc:
            self._h5.close()
            raise DataFormatError(f"{self.path} is damaged ({_first_line(exc)})") from exc
        except BaseException:
            self._h5.close()
            raise

    def tile(self, die: str, index: int, with_reads: bool = False) -> TileData:
        """One tile of `die` (maps as float64; raw reads only if asked for)."""
        record = self.dies.get(die)
        if record is None:
            raise LabctlError(f"{self.path}: no die {die!r} in this file")
        if index not in record.tiles:
            raise LabctlError(f"{self.path}: {die} has no tile {index}")
        try:
            group = self._h5[DIES][die][tile_group_name(index)]
            return read_tile_group(group, index, with_reads=with_reads)
        except HDF5_DAMAGE as exc:
            raise DataFormatError(
                f"{self.path}: {die}/tile_{index} is damaged ({_first_line(exc)})"
            ) from exc

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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().strip("'\"")
    return text.splitlines()[0][:200] if text else type(exc).__name__


def open_wafer(path: str | Path) -> WaferReader:
    """Open and validate a wafer file; DataFormatError (one line) if it is not a usable one."""
    return WaferReader(path)


def open_hdf5_read_only(path: Path) -> h5py.File:
    """h5py file opened for reading, with a clear LabctlError / DataFormatError otherwise."""
    if not path.exists():
        raise LabctlError(f"{path}: no such file")
    if path.is_dir():
        raise LabctlError(f"{path}: is a directory, not a wafer file")
    if not h5py.is_hdf5(path):
        raise DataFormatError(f"{path} is not an HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot open as HDF5 ({exc})") from exc


def _read_info(h5: h5py.File, path: Path) -> WaferInfo:
    attrs = h5.attrs
    if "labctl_format" not in attrs:
        raise DataFormatError(f"{path} is not a labctl wafer file (no labctl_format attribute)")
    raw = attrs["labctl_format"]
    if isinstance(raw, (bool, np.bool_)) or not isinstance(raw, (int, np.integer)):
        raise DataFormatError(f"{path}: labctl_format must be an integer, got {raw!r}")
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
    kind = str(attrs["kind"])
    if kind not in KINDS:
        raise DataFormatError(f"{path}: unknown kind {kind!r} (expected one of {KINDS})")
    if DIES not in h5 or not isinstance(h5[DIES], h5py.Group):
        raise DataFormatError(f"{path}: missing group /{DIES}")
    return WaferInfo(
        path=path,
        labctl_format=version,
        kind=kind,
        wafer_id=str(attrs["wafer_id"]),
        created=str(attrs["created"]),
        software_version=str(attrs["software_version"]),
        station=_json_attr(attrs["station"], "station", path),
        procedure=_json_attr(attrs["procedure"], "procedure", path),
    )


def _json_attr(raw: object, name: str, path: Path) -> dict[str, Any]:
    try:
        value = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}: root attribute {name} is not JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise DataFormatError(f"{path}: root attribute {name} must be a JSON object")
    return value


def _read_dies(h5: h5py.File, path: Path, kind: str) -> dict[str, DieRecord]:
    records: dict[str, DieRecord] = {}
    for name in sorted(h5[DIES], key=die_sort_key):
        group = h5[DIES][name]
        where = f"{path}: /{DIES}/{name}"
        try:
            col, row = parse_die_name(name)
        except ValueError:
            raise DataFormatError(f"{where} is not a die name (die_<col>_<row>)") from None
        if not isinstance(group, h5py.Group):
            raise DataFormatError(f"{where} is not a group")
        missing = [a for a in DIE_ATTRS if a not in group.attrs]
        if missing:
            raise DataFormatError(f"{where} lacks attribute(s) {', '.join(missing)}")
        try:
            status = DieStatus(str(group.attrs["status"]))
        except ValueError:
            raise DataFormatError(f"{where} has unknown status {group.attrs['status']!r}") from None
        tiles = tuple(sorted(k for k in map(parse_tile_group_name, group) if k is not None))
        if status is DieStatus.COMPLETE:
            _check_complete_die(group, where, kind, tiles)
        records[name] = DieRecord(
            name=name,
            col=col,
            row=row,
            status=status,
            started=str(group.attrs["started"]),
            finished=str(group.attrs["finished"]),
            failure_reason=str(group.attrs["failure_reason"]),
            tiles=tiles,
        )
    return records


def _check_complete_die(group: h5py.Group, where: str, kind: str, tiles: tuple[int, ...]) -> None:
    if not tiles or tiles != tuple(range(len(tiles))):
        raise DataFormatError(f"{where} is complete but has tiles {list(tiles)} (need 0 ... n-1)")
    required = TILE_MAPS + TILE_EXTRA[kind]
    for k in tiles:
        tile = group[tile_group_name(k)]
        missing = [name for name in required if name not in tile]
        if missing:
            raise DataFormatError(f"{where}/tile_{k} lacks dataset(s) {', '.join(missing)}")

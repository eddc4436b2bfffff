"""Checks that make a wafer file from anywhere safe to read (docs/hdf5-format.md, "Validation").

A wafer file may come from another lab, a mail attachment or an attacker. HDF5 can make a
reader open other files (external links, external storage, virtual datasets), allocate what a
few bytes declare (a 200 000 x 200 000 dataset, a chunk larger than its dataset), load filter
plugins, or hand over values labctl never writes (NaN resistances, defect code 255, a die named
``"die_00_02\\n"``). Every reader of the store therefore goes through this module:

1. :func:`open_checked` opens only a regular HDF5 file and walks every link without following
   any (:func:`check_structure`): soft, external and user-defined links, external storage,
   virtual datasets, unknown filters, non-numeric types, oversized datasets or chunks and more
   than :data:`MAX_LINKS` objects are refused before any dataset is read.
2. Before a dataset is read, :func:`checked_dataset` compares its shape with the geometry
   recorded in the file's attributes (themselves bounded: :data:`MAX_TILE_SIDE`,
   :data:`MAX_TILES`, ...) and its type with the allowed ones.
3. After reading, the values are checked (:func:`check_resistance`, :func:`check_defects`, ...).

Every refusal is a one-line :class:`DataFormatError`.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from h5py import h5a, h5d, h5l, h5o, h5z
from numpy.typing import NDArray

from labctl.core.defects import DefectCode
from labctl.core.errors import DataFormatError, LabctlError
from labctl.core.wafer_map import ALL_DIE_NAMES, parse_die_name

#: Rows or columns of one tile: the crossbars labctl drives have at most a few hundred.
MAX_TILE_SIDE = 4096
#: Cells of one die, all tiles together (the default die has 20 600): bounds what reading a
#: die's maps may allocate (about 8 bytes per cell and map).
MAX_DIE_CELLS = 1 << 20
#: Tiles of one die, and programmed runs' tiles.
MAX_TILES = 16
#: Read cycles of a tile (the sweep's `cycles` parameter allows 1 ... 1000).
MAX_READ_CYCLES = 1000
#: Values of any one dataset (1000 cycles of the default 196 x 100 tile are 19.6 million).
MAX_DATASET_VALUES = 1 << 26
#: Links in the whole file (a 36-die wafer has about 760, each programmed run of a two-tile die
#: adds 15): bounds the structure check's time (about 0.1 ms per object) and memory (HDF5 keeps
#: about 3 kB per object opened in its free lists).
MAX_LINKS = 5_000
#: Bytes of one attribute as stored, and characters of a text attribute shown to the user.
MAX_ATTR_BYTES = 1 << 20
MAX_TEXT_CHARS = 2000
#: HDF5 filters labctl reads (its writer uses gzip and shuffle). For any other filter id HDF5
#: would search its plugin path and load whichever shared library there claims that id.
ALLOWED_FILTERS = {h5z.FILTER_DEFLATE: "gzip", h5z.FILTER_SHUFFLE: "shuffle",
                   h5z.FILTER_FLETCHER32: "fletcher32"}

_LINK_KINDS = {h5l.TYPE_SOFT: "a soft link", h5l.TYPE_EXTERNAL: "an external link"}
_DEFECT_CODES = np.array(sorted(int(code) for code in DefectCode), dtype=np.uint8)

FLOAT = "float"
UINT8 = "uint8"
INTEGER = "integer"
_KINDS = {FLOAT: ("f", (4, 8)), UINT8: ("u", (1,)), INTEGER: ("iu", (1, 2, 4, 8))}


def shown(text: str | bytes, limit: int = 80) -> str:
    """`text` safe to print on one line: control and non-ASCII characters escaped, shortened."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    return text.encode("unicode_escape").decode("ascii")[:limit]


def quoted(text: str | bytes) -> str:
    """:func:`shown` in single quotes: ``'die_00_02\\n'``."""
    return f"'{shown(text)}'"


# --------------------------------------------------------------------------- opening


def open_checked(path: Path) -> h5py.File:
    """`path` opened read-only after :func:`check_structure`; LabctlError if it is missing or
    not a regular file, DataFormatError if it is not HDF5 or holds anything refused."""
    h5 = open_hdf5_read_only(path)
    try:
        check_structure(h5, str(path))
    except BaseException:
        h5.close()
        raise
    return h5


def open_hdf5_read_only(path: Path) -> h5py.File:
    """h5py file opened for reading, with a clear LabctlError / DataFormatError otherwise.

    Only regular files are opened: a FIFO or a device would block or never end."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise LabctlError(f"{path}: no such file") from None
    except OSError as exc:
        raise LabctlError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise LabctlError(f"{path}: is a directory, not a wafer file")
    if not stat.S_ISREG(mode):
        raise DataFormatError(f"{path}: not a regular file (a FIFO, socket or device)")
    if not h5py.is_hdf5(path):
        raise DataFormatError(f"{path} is not an HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot open as HDF5 ({first_line(exc)})") from exc


def check_structure(h5: h5py.File, where: str) -> None:
    """Visit every link of `h5` (following none) and refuse what could make reading touch
    another file, load code or allocate more than the bounds allow; reads no data.

    Two passes: the links alone first (about 3 us each: too many, or a soft, external or
    user-defined one, is refused before any object is opened), then each object once."""
    problems: list[str] = []
    objects: dict[int, bytes] = {}  # address -> one hard link's name
    count = 0

    def link(name: bytes, info: h5l.LinkInfo) -> int | None:
        nonlocal count
        count += 1
        if count > MAX_LINKS:
            problems.append(f"holds more than {MAX_LINKS} objects")
            return 1
        if info.type != h5l.TYPE_HARD:
            kind = _LINK_KINDS.get(info.type, "a user-defined link")
            problems.append(f"/{shown(name)} is {kind} (links to elsewhere are refused)")
            return 1
        objects.setdefault(info.u, name)
        return None

    try:  # an exception must not cross HDF5's C iteration: the callback raises none
        h5.id.links.visit(link, info=True)
        if not problems:
            for name in objects.values():
                obj = h5o.open(h5.id, name)
                problem = _dataset_problem(obj) if isinstance(obj, h5d.DatasetID) else None
                if problem:
                    problems.append(f"/{shown(name)} {problem}")
                    break
    except (KeyError, OSError, ValueError, TypeError, RuntimeError) as exc:
        raise DataFormatError(f"{where} is damaged ({first_line(exc)})") from exc
    if problems:
        raise DataFormatError(f"{where}: refused: {problems[0]}")


def _dataset_problem(dsid: h5d.DatasetID) -> str | None:
    """Why reading this dataset is unsafe, or None; from its header only."""
    dcpl = dsid.get_create_plist()
    layout = dcpl.get_layout()
    if layout == h5d.VIRTUAL:
        return "is a virtual dataset (its data lives in other files)"
    if dcpl.get_external_count():
        return "has external storage (its data lives in another file)"
    if layout not in (h5d.COMPACT, h5d.CONTIGUOUS, h5d.CHUNKED):
        return f"has an unknown storage layout ({layout})"
    for index in range(dcpl.get_nfilters()):
        code = dcpl.get_filter(index)[0]
        if code not in ALLOWED_FILTERS:
            return f"uses HDF5 filter {code} (only {', '.join(ALLOWED_FILTERS.values())})"
    shape = tuple(int(n) for n in dsid.shape)
    if len(shape) > 3:
        return f"has {len(shape)} dimensions (at most 3)"
    values = math.prod(shape)
    if values > MAX_DATASET_VALUES:
        return f"declares shape {shape} ({values} values; at most {MAX_DATASET_VALUES})"
    if layout == h5d.CHUNKED:
        chunk = tuple(int(n) for n in dcpl.get_chunk())
        if any(c > max(n, 1) for c, n in zip(chunk, shape, strict=False)):
            return f"has chunks {chunk} larger than its shape {shape}"
    try:
        dtype = dsid.dtype
    except (TypeError, ValueError, RuntimeError):
        return "has a type numpy cannot represent"
    if dtype.kind not in "biuf" or dtype.itemsize > 8:
        return f"has type {dtype} (only numbers are read)"
    return None


# --------------------------------------------------------------------------- attributes


def attr(obj: h5py.HLObject, name: str, where: str) -> Any:
    """Attribute `name` of `obj` after bounding its size; KeyError if it is absent."""
    if name not in obj.attrs:
        raise KeyError(f"{where} lacks attribute {name}")
    aid = h5a.open(obj.id, name.encode())
    if aid.get_storage_size() > MAX_ATTR_BYTES or math.prod(aid.shape or ()) > 4096:
        raise DataFormatError(f"{where}: attribute {name} is larger than labctl writes")
    return obj.attrs[name]


def text_attr(obj: h5py.HLObject, name: str, where: str, *, one_line: bool = True,
              max_chars: int = MAX_TEXT_CHARS) -> str:
    """A text attribute: a string, bounded; `one_line` refuses any control character."""
    raw = attr(obj, name, where)
    if isinstance(raw, bytes | np.bytes_):
        raw = bytes(raw).decode("utf-8", "replace")
    if not isinstance(raw, str):
        raise DataFormatError(f"{where}: attribute {name} is not text ({shown(repr(raw))})")
    if len(raw) > max_chars:
        raise DataFormatError(f"{where}: attribute {name} is longer than {max_chars} characters")
    if one_line and any(_is_control(c) for c in raw):
        raise DataFormatError(
            f"{where}: attribute {name} holds control characters ({quoted(raw)})"
        )
    return raw


def int_attr(obj: h5py.HLObject, name: str, where: str, low: int, high: int) -> int:
    """An integer attribute (not a bool) within low ... high."""
    raw = attr(obj, name, where)
    if isinstance(raw, np.ndarray) and raw.shape == ():
        raw = raw[()]
    if isinstance(raw, bool | np.bool_) or not isinstance(raw, int | np.integer):
        raise DataFormatError(
            f"{where}: attribute {name} must be an integer, got {shown(repr(raw))}"
        )
    value = int(raw)
    if not low <= value <= high:
        raise DataFormatError(f"{where}: attribute {name} = {value} outside {low} ... {high}")
    return value


def printable(text: str) -> str:
    """`text` with every control character (what :func:`text_attr` refuses) made a space."""
    return "".join(" " if _is_control(c) else c for c in text)


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code < 0xA0 or char in "\u2028\u2029"


# --------------------------------------------------------------------------- names


def check_die_name(name: str, where: str) -> tuple[int, int]:
    """(col, row) of a die name that is exactly one of the wafer map's (ASCII, whole string)."""
    try:
        col, row = parse_die_name(name)
    except ValueError:
        raise DataFormatError(
            f"{where}: {quoted(name)} is not a die name (die_<col>_<row>)"
        ) from None
    if name not in ALL_DIE_NAMES:
        raise DataFormatError(f"{where}: {name} is not on the wafer map")
    return col, row


# --------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class TileGeometry:
    """A tile group's recorded shape and progress, bounded."""

    rows: int
    cols: int
    rows_done: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.cols


def tile_geometry(group: h5py.Group, where: str) -> TileGeometry:
    """The `rows`, `cols` (1 ... MAX_TILE_SIDE) and `rows_done` attributes of a tile group."""
    rows = int_attr(group, "rows", where, 1, MAX_TILE_SIDE)
    cols = int_attr(group, "cols", where, 1, MAX_TILE_SIDE)
    if rows * cols > MAX_DIE_CELLS:
        raise DataFormatError(f"{where}: {rows} x {cols} cells, more than {MAX_DIE_CELLS}")
    rows_done = int_attr(group, "rows_done", where, 0, rows) if "rows_done" in group.attrs \
        else rows
    return TileGeometry(rows, cols, rows_done)


def checked_dataset(
    group: h5py.Group, name: str, where: str, shape: Sequence[int | None], kind: str
) -> h5py.Dataset:
    """Dataset `name` of `group` if its storage, shape and type are allowed; a None in `shape`
    is a free dimension (read cycles, 1 ... MAX_READ_CYCLES). Reads nothing."""
    link = group.get(name, getlink=True)
    if link is None:
        raise DataFormatError(f"{where} lacks dataset {name}")
    if not isinstance(link, h5py.HardLink):
        raise DataFormatError(f"{where}: {name} is a link to elsewhere (refused)")
    dataset = group[name]
    if not isinstance(dataset, h5py.Dataset):
        raise DataFormatError(f"{where}: {name} is not a dataset")
    problem = _dataset_problem(dataset.id)
    if problem:
        raise DataFormatError(f"{where}: {name} {problem}")
    actual = tuple(int(n) for n in dataset.shape)
    fits = len(actual) == len(shape) and all(
        (1 <= a <= MAX_READ_CYCLES) if want is None else a == want
        for a, want in zip(actual, shape, strict=True)
    )
    if not fits:
        expected = ", ".join("cycles" if n is None else str(n) for n in shape)
        raise DataFormatError(
            f"{where} is damaged: {name} has shape {actual}, expected ({expected})"
        )
    letters, sizes = _KINDS[kind]
    if dataset.dtype.kind not in letters or dataset.dtype.itemsize not in sizes:
        raise DataFormatError(f"{where} is damaged: {name} has type {dataset.dtype}, not {kind}")
    return dataset


def read_checked(
    group: h5py.Group, name: str, where: str, shape: Sequence[int | None], kind: str
) -> NDArray[Any]:
    """:func:`checked_dataset`, then its values (float64 for floats, uint8, int64)."""
    dataset = checked_dataset(group, name, where, shape, kind)
    dtype = {FLOAT: np.float64, UINT8: np.uint8, INTEGER: np.int64}[kind]
    return np.asarray(dataset[()], dtype=dtype)


# --------------------------------------------------------------------------- values


def check_resistance(values: NDArray[np.float64], name: str, where: str,
                     allow_nan: bool = False) -> None:
    """Resistances are finite and positive (the read cap, READ_CAP_OHM, included); NaN only
    where `allow_nan` (rows a partial tile has not measured yet)."""
    data = values[~np.isnan(values)] if allow_nan else values
    bad = ~(np.isfinite(data) & (data > 0))
    if bad.any():
        raise DataFormatError(
            f"{where} is damaged: {name} holds {int(bad.sum())} resistance(s) that are not "
            f"finite and positive (e.g. {float(data[bad].flat[0])})"
        )


def check_finite(values: NDArray[np.float64], name: str, where: str, low: float,
                 allow_nan: bool = False) -> None:
    """Values are finite and above `low` (TMR: above -1); NaN only where `allow_nan`."""
    data = values[~np.isnan(values)] if allow_nan else values
    bad = ~(np.isfinite(data) & (data > low))
    if bad.any():
        raise DataFormatError(
            f"{where} is damaged: {name} holds {int(bad.sum())} value(s) that are not finite "
            f"and above {low:g} (e.g. {float(data[bad].flat[0])})"
        )


def check_defects(values: NDArray[np.uint8], name: str, where: str) -> None:
    """Only the codes of :class:`DefectCode`."""
    unknown = np.setdiff1d(np.unique(values), _DEFECT_CODES)
    if unknown.size:
        raise DataFormatError(
            f"{where} is damaged: {name} holds unknown defect code(s) "
            f"{', '.join(str(int(c)) for c in unknown[:5])} (known: 0 ... {int(_DEFECT_CODES[-1])})"
        )


def check_flags(values: NDArray[np.uint8], name: str, where: str) -> None:
    """0 or 1 only (a bool stored as uint8)."""
    if values.size and int(values.max()) > 1:
        raise DataFormatError(f"{where} is damaged: {name} holds values other than 0 and 1")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, escaped and shortened (for a one-line error)."""
    text = str(exc).strip().strip("'\"")
    return shown(text.splitlines()[0], 200) if text else type(exc).__name__

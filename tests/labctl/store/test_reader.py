"""Opening wafer files: what is accepted, and one-line errors for everything else."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from labctl.core.errors import DataFormatError, LabctlError
from labctl.store import DieStatus, open_wafer
from labctl.store.layout import FORMAT_VERSION
from labctl.testing.synthetic import write_synthetic_wafer

SHAPES = ((12, 8), (8, 4))


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reader") / "good.h5"
    return write_synthetic_wafer(path, dies=["die_03_00", "die_04_00"], tile_shapes=SHAPES)


def test_reads_info_dies_and_tiles(good: Path) -> None:
    with open_wafer(good) as reader:
        assert reader.info.wafer_id == "synthetic-0"
        assert reader.info.kind == "measurement"
        assert reader.info.labctl_format == FORMAT_VERSION
        assert reader.info.procedure["synthetic"]["cycles"] == 2
        assert list(reader.dies) == ["die_03_00", "die_04_00"]
        assert all(r.status is DieStatus.COMPLETE for r in reader.dies.values())
        tile = reader.tile("die_04_00", 1)
        assert tile.shape == (8, 4) and tile.r_parallel_ohm.dtype == np.float64
        assert tile.reads_parallel_ohm is None  # only on request
        assert reader.tile("die_04_00", 1, with_reads=True).reads_parallel_ohm.shape == (2, 8, 4)
        with pytest.raises(LabctlError, match="no die 'die_05_00'"):
            reader.tile("die_05_00", 0)
        with pytest.raises(LabctlError, match="has no tile 2"):
            reader.tile("die_04_00", 2)


def _broken(good: Path, tmp_path: Path, edit: Callable[[h5py.File], None]) -> Path:
    path = tmp_path / "broken.h5"
    shutil.copyfile(good, path)
    with h5py.File(path, "r+") as h5:
        edit(h5)
    return path


def _set(name: str, value: object) -> Callable[[h5py.File], None]:
    def edit(h5: h5py.File) -> None:
        h5.attrs[name] = value

    return edit


def _delete(item: str) -> Callable[[h5py.File], None]:
    def edit(h5: h5py.File) -> None:
        if item.startswith("@"):
            del h5.attrs[item[1:]]
        else:
            del h5[item]

    return edit


def _die_attr(name: str, value: object) -> Callable[[h5py.File], None]:
    def edit(h5: h5py.File) -> None:
        h5["dies/die_03_00"].attrs[name] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_delete("@labctl_format"), "not a labctl wafer file"),
        (_set("labctl_format", FORMAT_VERSION + 1), "newer than this labctl supports"),
        (_set("labctl_format", "one"), "must be an integer"),
        (_delete("@wafer_id"), "missing root attribute.*wafer_id"),
        (_set("kind", "spreadsheet"), "unknown kind"),
        (_set("station", "{not json"), "station is not JSON"),
        (_delete("dies"), "missing group /dies"),
        (_delete("dies/die_03_00/tile_1/r_antiparallel"), "tile_1 lacks dataset.*r_antiparallel"),
        (_delete("dies/die_03_00/tile_0/reads_parallel"), "tile_0 lacks dataset.*reads_parallel"),
        (_delete("dies/die_03_00/tile_0"), "complete but has tiles \\[1\\]"),
        (_die_attr("status", "exploded"), "unknown status"),
    ],
)
def test_damaged_or_foreign_files_raise_one_line_data_format_errors(
    good: Path, tmp_path: Path, edit: Callable[[h5py.File], None], message: str
) -> None:
    path = _broken(good, tmp_path, edit)
    with pytest.raises(DataFormatError, match=message) as info:
        open_wafer(path)
    assert "\n" not in str(info.value)


def test_a_die_without_its_attributes_is_refused(good: Path, tmp_path: Path) -> None:
    def edit(h5: h5py.File) -> None:
        del h5["dies/die_03_00"].attrs["status"]

    with pytest.raises(DataFormatError, match=r"die_03_00 lacks attribute.*status"):
        open_wafer(_broken(good, tmp_path, edit))


def test_not_hdf5_missing_file_and_directory(tmp_path: Path) -> None:
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(DataFormatError, match="not an HDF5 file"):
        open_wafer(text)
    with pytest.raises(LabctlError, match="no such file"):
        open_wafer(tmp_path / "absent.h5")
    with pytest.raises(LabctlError, match="is a directory"):
        open_wafer(tmp_path)


def test_a_foreign_hdf5_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as h5:
        h5["data"] = np.arange(3)
    with pytest.raises(DataFormatError, match="not a labctl wafer file"):
        open_wafer(path)

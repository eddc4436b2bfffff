"""Damaged wafer files (truncated, overwritten, datasets of the wrong shape or type): every
reader path, `labctl inspect`, `labctl report` and `labctl sweep --resume` refuse them with one
line and exit status 2, and change nothing."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from labctl.cli.main import main
from labctl.core.errors import DataFormatError
from labctl.reports.summary import summarize_wafer
from labctl.store import WaferFile, open_wafer
from labctl.testing.synthetic import write_synthetic_wafer

SHAPES = ((12, 8), (8, 4))


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("damage") / "good.h5"
    return write_synthetic_wafer(path, dies=["die_03_00", "die_04_00"], tile_shapes=SHAPES)


def read_everything(path: Path) -> None:
    with open_wafer(path) as reader:
        summarize_wafer(reader)
        for name in reader.dies:
            reader.tiles(name, with_reads=True)


def tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("labctl: error: "), err
    return err[0]


@pytest.mark.parametrize("fraction", [k / 12 for k in range(12)])
def test_a_truncated_file_is_refused_in_one_line(
    good: Path, tmp_path: Path, fraction: float, capsys: pytest.CaptureFixture[str]
) -> None:
    data = good.read_bytes()
    path = tmp_path / "truncated.h5"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(DataFormatError) as info:
        read_everything(path)
    assert "\n" not in str(info.value)
    assert main(["inspect", str(path)]) == 2
    one_error_line(capsys)


def _damaged(good: Path, tmp_path: Path, edit: Callable[[h5py.File], None]) -> Path:
    path = tmp_path / "damaged.h5"
    shutil.copyfile(good, path)
    with h5py.File(path, "r+") as h5:
        edit(h5)
    return path


def _replace(name: str, data: np.ndarray) -> Callable[[h5py.File], None]:
    def edit(h5: h5py.File) -> None:
        tile = h5["dies/die_03_00/tile_0"]
        del tile[name]
        tile.create_dataset(name, data=data)

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_replace("defects", np.zeros((3, 3), np.uint8)), "defects has shape (3, 3)"),
        (_replace("r_parallel", np.array([b"text"])), "damaged"),
        (_replace("reads_parallel", np.zeros((2, 8, 12))), "reads_parallel has shape"),
        (_replace("tmr", np.zeros(96)), "tmr has shape (96,)"),
    ],
)
def test_datasets_of_the_wrong_shape_or_type_are_refused(
    good: Path, tmp_path: Path, edit: Callable[[h5py.File], None], message: str
) -> None:
    path = _damaged(good, tmp_path, edit)
    with pytest.raises(DataFormatError, match="die_03_00/tile_0") as info:
        read_everything(path)
    assert message in str(info.value)


def test_overwritten_bytes_never_escape_as_another_error(good: Path, tmp_path: Path) -> None:
    data = bytearray(good.read_bytes())
    rng = np.random.default_rng(11)
    path = tmp_path / "overwritten.h5"
    outcomes = set()
    for _ in range(40):
        damaged = bytearray(data)
        start = int(rng.integers(0, len(data) - 64))
        damaged[start : start + 64] = rng.bytes(64)
        path.write_bytes(bytes(damaged))
        try:
            read_everything(path)
            outcomes.add("read")
        except DataFormatError as exc:
            assert "\n" not in str(exc)
            outcomes.add("refused")
    assert "refused" in outcomes


def test_report_of_a_damaged_file_creates_nothing(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _damaged(good, tmp_path, _replace("defects", np.zeros((3, 3), np.uint8)))
    out = tmp_path / "report"
    assert main(["report", str(path), "--out", str(out)]) == 2
    assert "damaged" in one_error_line(capsys)
    assert not out.exists()


def test_resume_of_a_damaged_file_changes_nothing(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = good.read_bytes()
    path = tmp_path / "wafer.h5"
    path.write_bytes(data[: len(data) // 2])
    before = tree(tmp_path)
    assert main(["sweep", "--sim", "--out", str(path), "--resume", "--wafer-id",
                 "synthetic-0"]) == 2
    one_error_line(capsys)
    with pytest.raises(DataFormatError):
        WaferFile.open_for_resume(path)
    assert tree(tmp_path) == before

"""`labctl inspect`: the table, the stable --json object, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest

from labctl.cli.main import main
from labctl.store import WaferFile
from labctl.testing.synthetic import write_synthetic_wafer

SHAPES = ((20, 10), (10, 4))


@pytest.fixture(scope="module")
def wafer_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inspect") / "W.h5"
    write_synthetic_wafer(path, dies=["die_03_00", "die_02_01"], tile_shapes=SHAPES)
    with WaferFile.open_for_resume(path) as wafer:
        wafer.begin_die("die_04_00")
        wafer.fail_die("die_04_00", "contact reads open everywhere")
    return path


def test_json_is_one_object_with_the_documented_schema(
    wafer_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(wafer_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["wafer_id"] == "synthetic-0"
    assert list(data["dies"]) == ["die_03_00", "die_04_00", "die_02_01"]  # wafer-map order
    die = data["dies"]["die_03_00"]
    for key in (
        "status",
        "yield",
        "defects",
        "median_r_parallel_ohm",
        "median_r_antiparallel_ohm",
        "median_tmr",
        "failure_reason",
    ):
        assert key in die
    assert die["status"] == "complete" and 0.9 < die["yield"] <= 1.0
    assert set(die["defects"]) == {"short", "open", "stuck_p", "stuck_ap"}
    assert all(isinstance(n, int) for n in die["defects"].values())
    assert data["dies"]["die_04_00"]["failure_reason"] == "contact reads open everywhere"


def test_table_lists_every_die(wafer_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(wafer_path)]) == 0
    out = capsys.readouterr().out
    assert "wafer synthetic-0" in out and "2 complete, 1 failed" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("die_")}
    assert set(lines) == {"die_03_00", "die_04_00", "die_02_01"}
    assert "%" in lines["die_03_00"] and "kohm" in lines["die_03_00"]
    assert "contact reads open everywhere" in lines["die_04_00"]


def test_bad_files_give_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    newer = tmp_path / "newer.h5"
    with h5py.File(newer, "w") as h5:
        h5.attrs["labctl_format"] = 99
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    for path, message in (
        (newer, "newer than this labctl supports"),
        (text, "not an HDF5 file"),
        (tmp_path / "missing.h5", "no such file"),
    ):
        assert main(["inspect", str(path)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1

"""`labctl report`: wafer map, per-die figures and summary; bad input creates nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labctl.cli.main import main
from labctl.testing.synthetic import write_synthetic_wafer

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def wafer_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "W.h5"
    return write_synthetic_wafer(path, dies=["die_03_00", "die_04_00"], tile_shapes=((40, 20),))


def test_report_writes_wafer_map_die_figures_and_summary(
    wafer_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report" / "nested"
    assert main(["report", str(wafer_path), "--out", str(out)]) == 0
    assert "2 die figure(s)" in capsys.readouterr().out
    names = sorted(p.name for p in out.iterdir())
    assert names == ["die_03_00.png", "die_04_00.png", "summary.json", "wafer_map.png"]
    for name in names[:2] + names[3:]:
        assert (out / name).read_bytes()[:8] == PNG
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dies"]["die_04_00"]["status"] == "complete"


def test_report_of_selected_dies(wafer_path: Path, tmp_path: Path) -> None:
    assert main(["report", str(wafer_path), "--out", str(tmp_path), "--dies", "die_04_00"]) == 0
    assert (tmp_path / "die_04_00.png").exists() and not (tmp_path / "die_03_00.png").exists()


@pytest.mark.parametrize(
    ("dies", "message"),
    [("die_99_99", "unknown die name"), ("die_02_01", "no complete data for die_02_01")],
)
def test_bad_die_selection_creates_nothing(
    wafer_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], dies: str, message: str
) -> None:
    out = tmp_path / "out"
    assert main(["report", str(wafer_path), "--out", str(out), "--dies", dies]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_bad_wafer_or_output_creates_nothing(
    wafer_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["report", str(tmp_path / "missing.h5"), "--out", str(out)]) == 2
    assert not out.exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["report", str(wafer_path), "--out", str(blocker)]) == 2
    assert "not a directory" in capsys.readouterr().err

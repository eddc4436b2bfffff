"""`labctl validate` refuses a die that was never programmed, in one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hardware"))
from hardware_helpers import wafer_copy, weights_file

from labctl.cli.main import main


def test_validate_needs_a_programmed_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wafer = wafer_copy(tmp_path)
    argv = ["validate", "--sim", "--wafer", str(wafer), "--weights",
            str(weights_file(routed=True)), "--die", "die_04_00"]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no programmed run" in err[0]
    assert main([*argv, "--in-situ-images", "-1"]) == 2
    assert "--in-situ-images: must be an integer >= 0" in capsys.readouterr().err

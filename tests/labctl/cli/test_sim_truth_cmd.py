"""`labctl sim truth` writes the virtual wafer's ground truth in the wafer-file layout."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from labctl.cli.main import main
from labctl.sim.wafer import VirtualWafer


def test_truth_file_holds_the_models_defect_maps(tmp_path: Path) -> None:
    out = tmp_path / "truth.h5"
    assert main(["sim", "truth", "--seed", "5", "--out", str(out)]) == 0
    die = VirtualWafer(5).die(3, 0)
    with h5py.File(out, "r") as h5:
        assert len(h5["dies"]) == 36
        defects = h5["dies/die_03_00/tile_0/defects"][()]
    np.testing.assert_array_equal(defects, die.truth(0).defects)


def test_truth_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "truth.h5"
    out.write_bytes(b"keep me")
    assert main(["sim", "truth", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"

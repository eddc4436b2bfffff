"""`labctl sim truth` writes the virtual wafer's ground truth in the wafer-file layout."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from labctl.cli.main import main
from labctl.core.defects import DefectCode
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


def test_truth_of_a_wafer_made_from_a_parameter_file(tmp_path: Path) -> None:
    params = tmp_path / "params.toml"
    params.write_text("r_short_median_ohm = 50.0\ndefect_weight_short = 2.0\n")
    out = tmp_path / "truth.h5"
    assert main(["sim", "truth", "--seed", "5", "--sim-params", str(params), "--out", str(out)]
                ) == 0
    with h5py.File(out, "r") as h5:
        recorded = json.loads(h5.attrs["procedure"])["sim_params"]
        defects = h5["dies/die_03_00/tile_0/defects"][()]
    assert recorded["r_short_median_ohm"] == 50.0 and recorded["defect_weight_short"] == 2.0
    default = VirtualWafer(5).die(3, 0).truth(0).defects
    assert np.count_nonzero(defects == DefectCode.SHORT) > np.count_nonzero(
        default == DefectCode.SHORT)

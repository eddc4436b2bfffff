"""Reading a wafer file for training: complete dies only, conductance = 1 / resistance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from training_helpers import synthetic_die, write_wafer_file

from labctl.analysis.conductance import conductance_from_resistance_S
from labctl.core.errors import DataFormatError, LabctlError
from labctl.store.layout import KIND_MEASUREMENT, KIND_TRUTH
from labctl.training.maps import TileMap
from labctl.training.wafer_maps import read_wafer_maps


def test_complete_dies_are_read_and_others_skipped(tmp_path: Path) -> None:
    dies = [
        synthetic_die(n, seed=i, rates=(0.05, 0.05, 0.0, 0.0))
        for i, n in enumerate(["die_02_00", "die_03_00", "die_04_00", "die_05_00"])
    ]
    path = write_wafer_file(
        tmp_path / "w.h5", dies, statuses={"die_03_00": "failed", "die_04_00": "pending"}
    )
    wafer = read_wafer_maps(path)
    assert wafer.names == ("die_02_00", "die_05_00")
    assert wafer.skipped == {"die_03_00": "failed (contact open)", "die_04_00": "pending"}
    assert wafer.wafer_id == "test-wafer"
    assert wafer.kind == KIND_MEASUREMENT and wafer.is_measured and not wafer.is_truth
    got, want = wafer.die("die_02_00").tiles[0], dies[0].tiles[0]
    np.testing.assert_array_equal(got.defects, want.defects)
    ok = want.defects == 0
    np.testing.assert_allclose(got.g_p_S[ok], want.g_p_S[ok], rtol=1e-6)  # stored as float32
    with pytest.raises(LabctlError, match=r"not usable.*failed"):
        wafer.die("die_03_00")
    with pytest.raises(LabctlError, match="no die"):
        wafer.die("die_07_03")
    only = read_wafer_maps(path, dies=["die_05_00"])
    assert only.names == ("die_05_00",)
    with pytest.raises(LabctlError, match="die_07_03"):
        read_wafer_maps(path, dies=["die_07_03"])


def test_truth_files_say_so(tmp_path: Path) -> None:
    die = synthetic_die("die_02_00", seed=0, rates=(0.05, 0.0, 0.0, 0.0))
    wafer = read_wafer_maps(write_wafer_file(tmp_path / "t.h5", [die], kind=KIND_TRUTH))
    assert wafer.kind == KIND_TRUTH and wafer.is_truth


def test_unusable_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(LabctlError, match="no such file"):
        read_wafer_maps(tmp_path / "missing.h5")
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(DataFormatError):
        read_wafer_maps(text)
    dies = [synthetic_die("die_02_00", seed=0)]
    path = write_wafer_file(tmp_path / "w.h5", dies, statuses={"die_02_00": "failed"})
    with pytest.raises(LabctlError, match="no complete die"):
        read_wafer_maps(path)


def test_conductance_of_open_and_broken_readings_is_zero() -> None:
    r = np.array([4000.0, 1e12, np.inf, np.nan, 0.0, -5.0])
    np.testing.assert_allclose(conductance_from_resistance_S(r), [2.5e-4, 0, 0, 0, 0, 0])
    with pytest.raises(DataFormatError):
        TileMap(np.ones((2, 2)), np.ones((2, 3)), np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(DataFormatError):
        TileMap(np.ones((2, 2)), np.ones((2, 2)), np.full((2, 2), 9, dtype=np.uint8))

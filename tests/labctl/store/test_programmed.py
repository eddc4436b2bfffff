"""Programmed runs in the wafer file: atomic add, numbering, round trip, clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from training_helpers import synthetic_die, write_wafer_file

from labctl.core.errors import LabctlError
from labctl.store.programmed import (
    ProgrammedRun,
    ProgrammedTile,
    add_programmed_run,
    programmed_run_names,
    read_programmed_run,
)
from labctl.store.reader import open_wafer


def _run(die: str, shape: tuple[int, int], seed: int) -> ProgrammedRun:
    rng = np.random.default_rng(seed)
    target = rng.random(shape) < 0.5
    missed = np.zeros(shape, dtype=bool)
    missed[0, 0] = True
    tile = ProgrammedTile(
        target_ap=target,
        r_read_ohm=rng.uniform(4e3, 9e3, shape),
        pulses=np.full(shape, 2, dtype=np.uint8),
        defects=np.where(missed, 3, 0).astype(np.uint8),
        new_defects=missed,
        missed=missed,
    )
    return ProgrammedRun(
        die=die,
        weights={"file": "w.safetensors", "sha256": "ab" * 32, "mode": "statistics-aware"},
        settings={"max_pulses": 5},
        tiles=(tile,),
        routing_rows=(tuple(range(shape[0])),),
    )


def test_runs_are_added_numbered_and_read_back(tmp_path: Path) -> None:
    path = write_wafer_file(tmp_path / "w.h5", [synthetic_die("die_03_00", 1)])
    first, second = _run("die_03_00", (12, 8), 1), _run("die_03_00", (12, 8), 2)
    assert add_programmed_run(path, first) == "run_0001"
    assert add_programmed_run(path, second) == "run_0002"
    assert programmed_run_names(path, "die_03_00") == ["run_0001", "run_0002"]
    latest = read_programmed_run(path, "die_03_00")
    assert latest.name == "run_0002"
    np.testing.assert_array_equal(latest.tiles[0].target_ap, second.tiles[0].target_ap)
    np.testing.assert_allclose(latest.tiles[0].r_read_ohm, second.tiles[0].r_read_ohm, rtol=1e-6)
    assert latest.weights == second.weights
    assert latest.routing_rows == second.routing_rows
    assert latest.summary() == {"cells": 96, "missed": 1, "new_defects": 1, "pulses": 192}
    assert read_programmed_run(path, "die_03_00", "run_0001").weights == first.weights
    with open_wafer(path) as reader:  # the measurement layout is untouched
        assert reader.dies["die_03_00"].tiles == (0, 1)
    assert not list(tmp_path.glob(".*tmp"))


def test_unknown_and_incomplete_dies_are_refused(tmp_path: Path) -> None:
    dies = [synthetic_die("die_03_00", 1), synthetic_die("die_04_00", 2)]
    path = write_wafer_file(tmp_path / "w.h5", dies, statuses={"die_04_00": "failed"})
    with pytest.raises(LabctlError, match="no die 'die_09_09'"):
        add_programmed_run(path, _run("die_09_09", (12, 8), 1))
    with pytest.raises(LabctlError, match="not complete"):
        add_programmed_run(path, _run("die_04_00", (12, 8), 1))
    with pytest.raises(LabctlError, match="no programmed run"):
        read_programmed_run(path, "die_03_00")
    assert programmed_run_names(path, "die_03_00") == []

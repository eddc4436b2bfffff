"""The simulator's ground truth, written in the measurement layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from labctl.core.errors import LabctlError
from labctl.core.wafer_map import ALL_DIE_NAMES
from labctl.reports.summary import summarize_wafer
from labctl.sim.params import SimParams
from labctl.sim.wafer import VirtualWafer
from labctl.store import DieStatus, open_wafer
from labctl.store.truth import truth_wafer_id, write_truth_file

PARAMS = SimParams(tile_shapes=((30, 12), (12, 4)), defect_rate_good_median=0.05)


def test_truth_file_holds_every_die_in_the_measurement_layout(tmp_path: Path) -> None:
    wafer = VirtualWafer(5, PARAMS)
    path = write_truth_file(wafer, tmp_path / "truth.h5")
    with open_wafer(path) as reader:
        assert reader.info.kind == "simulator_truth"
        assert reader.info.wafer_id == truth_wafer_id(5) == "sim-seed-5"
        assert reader.info.station == {"simulator": {"seed": 5}}
        assert reader.info.procedure["sim_params"]["tile_shapes"] == [[30, 12], [12, 4]]
        assert list(reader.dies) == list(ALL_DIE_NAMES)
        for die in wafer.dies():
            record = reader.dies[die.name]
            assert record.status is DieStatus.COMPLETE and record.tiles == (0, 1)
            for k in record.tiles:
                truth = die.truth(k)
                stored = reader.tile(die.name, k)
                np.testing.assert_array_equal(stored.defects, truth.defects)
                np.testing.assert_allclose(
                    stored.r_parallel_ohm, truth.r_p_ohm + truth.r_on_ohm, rtol=1e-6
                )
                np.testing.assert_allclose(stored.mtj_tmr0, truth.tmr0, rtol=1e-6)
                np.testing.assert_allclose(stored.r_on_ohm, truth.r_on_ohm, rtol=1e-6)
                ok = truth.defects == 0
                assert np.all(stored.tmr[ok] > 0)


def test_truth_file_summarises_like_a_measurement(tmp_path: Path) -> None:
    wafer = VirtualWafer(6, PARAMS)
    path = write_truth_file(wafer, tmp_path / "truth.h5")
    with open_wafer(path) as reader:
        summary = summarize_wafer(reader)
    die = wafer.die(3, 0)
    stats = summary.dies[die.name].stats
    assert stats is not None
    assert stats.yield_fraction == pytest.approx(1 - die.defect_rate())
    assert stats.intermittent is None
    json.dumps(summary.to_json())


def test_truth_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "truth.h5"
    path.write_text("keep me")
    wafer = VirtualWafer(1, SimParams(tile_shapes=((4, 3),)))
    with pytest.raises(LabctlError, match="already exists"):
        write_truth_file(wafer, path)
    assert path.read_text() == "keep me"
    write_truth_file(wafer, path, overwrite=True)
    with open_wafer(path) as reader:
        assert len(reader.dies) == len(ALL_DIE_NAMES)
    with pytest.raises(LabctlError, match="does not exist"):
        write_truth_file(wafer, tmp_path / "no" / "truth.h5")

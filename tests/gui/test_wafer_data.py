"""Wafer data read back from the published file: statuses, summaries, progress, die tiles."""

from __future__ import annotations

import numpy as np
import pytest

from gui.wafer_data import WaferFileWatcher
from labctl.core.errors import DataFormatError, LabctlError


def test_snapshot_lists_every_die_and_its_status(synthetic_wafer):
    synthetic_wafer.complete("die_02_00", seed=1)
    synthetic_wafer.fail("die_03_00", "contact reads open everywhere")
    snapshot = WaferFileWatcher(synthetic_wafer.path).snapshot()
    assert len(snapshot.statuses) == 36
    assert snapshot.statuses["die_02_00"] == "complete"
    assert snapshot.statuses["die_03_00"] == "failed"
    assert snapshot.statuses["die_04_00"] == "pending"
    assert snapshot.statuses["die_04_04"] == "pending"  # not in the file at all
    assert snapshot.wafer_id == "SYN-1"
    assert snapshot.failure_reasons == {"die_03_00": "contact reads open everywhere"}
    assert snapshot.unfinished() == ["die_03_00", "die_04_00", "die_05_00"]
    stats = snapshot.summaries["die_02_00"].stats
    assert stats is not None
    assert snapshot.metric_values("yield") == {"die_02_00": stats.yield_fraction}
    assert snapshot.metric_values("defect_count")["die_02_00"] == sum(stats.defects.values())
    assert snapshot.metric_values("median_tmr")["die_02_00"] == stats.median_tmr


def test_watcher_rereads_only_after_a_new_publication(synthetic_wafer):
    synthetic_wafer.complete("die_02_00", seed=1)
    watcher = WaferFileWatcher(synthetic_wafer.path)
    first = watcher.snapshot()
    assert not watcher.changed()
    assert watcher.snapshot() is first
    synthetic_wafer.complete("die_03_00", seed=2)
    assert watcher.changed()
    second = watcher.snapshot()
    assert second.statuses["die_03_00"] == "complete"
    # a finished die's summary is not recomputed
    assert second.summaries["die_02_00"] is first.summaries["die_02_00"]


def test_running_die_and_its_partial_tiles(synthetic_wafer):
    synthetic_wafer.running("die_04_00", seed=3, rows_done=9)
    watcher = WaferFileWatcher(synthetic_wafer.path)
    snapshot = watcher.snapshot()
    assert snapshot.running_dies() == ["die_04_00"]
    (tile,) = watcher.die_tiles("die_04_00")
    assert tile.measured_rows == 9 and tile.defects is None
    assert np.isfinite(tile.r_parallel_ohm[:9]).all()
    assert np.isnan(tile.r_parallel_ohm[9:]).all()
    assert watcher.die_tiles("die_07_03") == []


def test_unusable_files_raise_labctl_errors(tmp_path):
    with pytest.raises(LabctlError, match="no such file"):
        WaferFileWatcher(tmp_path / "missing.h5").snapshot()
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    with pytest.raises(DataFormatError):
        WaferFileWatcher(bad).snapshot()

"""The wafer file writer: layout, die life cycle, checkpoints, resume, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from labctl.core.defects import DEFECT_CODES
from labctl.core.errors import DataFormatError, LabctlError
from labctl.core.wafer_map import ALL_DIE_NAMES
from labctl.store import DieStatus, WaferFile, open_wafer, resolve_die_selection
from labctl.store.layout import FORMAT_VERSION
from labctl.store.publish import stray_files
from labctl.testing.synthetic import SyntheticTile, synthetic_die

SHAPES = ((40, 20), (20, 10))
STATION = {"name": "test-bench", "idn": {"read_smu": "KEITHLEY 2450"}}
PROCEDURE = {"cycles": 2, "read_voltage_V": 0.1}


def tiles_for(index: int) -> list[SyntheticTile]:
    return synthetic_die([11, index], SHAPES, cycles=2)


def measure(wafer: WaferFile, name: str) -> list[SyntheticTile]:
    tiles = tiles_for(ALL_DIE_NAMES.index(name))
    wafer.begin_die(name)
    for k, tile in enumerate(tiles):
        wafer.write_tile(name, k, tile.reads_parallel_ohm, tile.reads_antiparallel_ohm)
    wafer.complete_die(name)
    return tiles


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "W42.h5"


def test_create_writes_root_attributes_and_pending_dies(path: Path) -> None:
    with WaferFile.create(path, "W42", STATION, json.dumps(PROCEDURE)) as wafer:
        assert wafer.pending_dies() == list(ALL_DIE_NAMES)
    with h5py.File(path, "r") as h5:
        assert int(h5.attrs["labctl_format"]) == FORMAT_VERSION
        assert h5.attrs["wafer_id"] == "W42"
        assert h5.attrs["created"].endswith("Z") and "T" in h5.attrs["created"]
        assert json.loads(h5.attrs["station"]) == STATION
        assert json.loads(h5.attrs["procedure"]) == PROCEDURE
        assert h5.attrs["NX_class"] == "NXroot"
        die = h5["dies/die_03_00"]
        assert (die.attrs["col"], die.attrs["row"], die.attrs["status"]) == (3, 0, "pending")
        assert die.attrs["failure_reason"] == ""
    with open_wafer(path) as reader:
        assert reader.info.software_version
        assert list(reader.dies) == list(ALL_DIE_NAMES)


def test_completed_die_holds_classified_maps_raw_reads_and_thresholds(path: Path) -> None:
    with WaferFile.create(path, "W42", STATION, PROCEDURE, dies=["die_03_00", "die_04_00"]) as w:
        tiles = measure(w, "die_04_00")
        assert w.statuses() == {"die_03_00": DieStatus.PENDING, "die_04_00": DieStatus.COMPLETE}
        assert w.pending_dies() == ["die_03_00"]
    with open_wafer(path) as reader:
        record = reader.dies["die_04_00"]
        assert record.status is DieStatus.COMPLETE and record.tiles == (0, 1)
        assert record.started <= record.finished
        for k, truth in enumerate(tiles):
            stored = reader.tile("die_04_00", k, with_reads=True)
            np.testing.assert_array_equal(stored.defects, truth.defects)
            np.testing.assert_allclose(
                stored.reads_parallel_ohm, truth.reads_parallel_ohm, rtol=1e-7
            )
            ok = truth.defects == 0
            np.testing.assert_allclose(
                stored.r_parallel_ohm[ok], truth.r_parallel_ohm[ok], rtol=0.02
            )
            assert stored.thresholds is not None
            assert stored.thresholds.short_max_ohm < stored.thresholds.open_min_ohm
            assert stored.complete


def test_tile_groups_are_nexus_plottable_chunked_and_compressed(path: Path) -> None:
    with WaferFile.create(path, "W42", STATION, PROCEDURE, dies=["die_03_00"]) as wafer:
        measure(wafer, "die_03_00")
    with h5py.File(path, "r") as h5:
        assert h5.attrs["default"] == "dies" and h5["dies"].attrs["default"] == "die_03_00"
        assert h5["dies/die_03_00"].attrs["default"] == "tile_0"
        tile = h5["dies/die_03_00/tile_0"]
        assert tile.attrs["NX_class"] == "NXdata"
        assert tile.attrs["signal"] == "r_parallel"
        assert list(tile.attrs["axes"]) == ["row", "col"]
        assert tile["row"].shape == (40,) and tile["col"].shape == (20,)
        for name in ("r_parallel", "r_antiparallel", "reads_parallel", "reads_antiparallel"):
            assert tile[name].attrs["units"] == "ohm"
            assert tile[name].compression == "gzip" and tile[name].chunks is not None
        assert tile["reads_parallel"].shape == (2, 40, 20)
        assert tile["reads_parallel"].dtype == np.float32
        defects = tile["defects"]
        assert defects.dtype == np.uint8
        assert json.loads(defects.attrs["codes"]) == DEFECT_CODES
        assert DEFECT_CODES == {"ok": 0, "short": 1, "open": 2, "stuck_p": 3, "stuck_ap": 4}
        assert "threshold_short_max_ohm" in defects.attrs


def test_failed_die_records_a_one_line_reason_and_is_redone(path: Path) -> None:
    with WaferFile.create(path, "W42", STATION, PROCEDURE, dies=["die_03_00"]) as wafer:
        wafer.begin_die("die_03_00")
        wafer.fail_die("die_03_00", "contact reads open everywhere\n(retried once)")
        assert wafer.pending_dies() == ["die_03_00"]
    with open_wafer(path) as reader:
        record = reader.dies["die_03_00"]
        assert record.status is DieStatus.FAILED
        assert record.failure_reason == "contact reads open everywhere (retried once)"
        assert record.tiles == ()
    with WaferFile.open_for_resume(path) as wafer:
        assert wafer.pending_dies() == ["die_03_00"]
        measure(wafer, "die_03_00")
    with open_wafer(path) as reader:
        assert reader.dies["die_03_00"].status is DieStatus.COMPLETE
        assert reader.dies["die_03_00"].failure_reason == ""


def test_checkpoint_shows_a_die_filling_in_and_leaves_no_garbage(tmp_path: Path) -> None:
    name = "die_03_00"
    tiles = tiles_for(ALL_DIE_NAMES.index(name))
    sizes = {}
    for variant in ("plain", "checkpointed"):
        path = tmp_path / f"{variant}.h5"
        with WaferFile.create(path, "W42", STATION, PROCEDURE, dies=[name]) as wafer:
            wafer.begin_die(name)
            for k, tile in enumerate(tiles):
                if variant == "checkpointed":
                    rows = tile.reads_parallel_ohm.shape[1]
                    for rows_done in range(0, rows + 1, 10):
                        partial_p = tile.reads_parallel_ohm.copy()
                        partial_p[:, rows_done:, :] = np.nan
                        partial_ap = np.full_like(partial_p, np.nan)
                        wafer.update_partial(name, k, partial_p, partial_ap, rows_done)
                        assert wafer.checkpoint(name)
                        with open_wafer(path) as reader:
                            assert reader.dies[name].status is DieStatus.RUNNING
                            seen = reader.tile(name, k)
                            assert seen.rows_done == rows_done and not seen.complete
                            assert seen.defects is None
                            assert np.isfinite(seen.r_parallel_ohm[:rows_done]).all()
                            assert np.isnan(seen.r_parallel_ohm[rows_done:]).all()
                            assert np.isnan(seen.r_antiparallel_ohm).all()
                            assert all(t.complete for t in reader.tiles(name)[:k])
                wafer.write_tile(name, k, tile.reads_parallel_ohm, tile.reads_antiparallel_ohm)
            if variant == "checkpointed":
                assert not wafer.checkpoint(name, min_interval_s=1e9)  # throttled
            wafer.complete_die(name)
        sizes[variant] = path.stat().st_size
        with open_wafer(path) as reader:
            assert all(t.complete for t in reader.tiles(name))
    # Partial data never accumulates: every checkpoint starts from the last clean file.
    assert sizes["checkpointed"] <= sizes["plain"] * 1.02


def test_open_for_resume_resets_running_dies_and_removes_stray_files(path: Path) -> None:
    wafer = WaferFile.create(path, "W42", STATION, PROCEDURE, dies=["die_03_00", "die_04_00"])
    done = measure(wafer, "die_03_00")
    wafer.begin_die("die_04_00")
    tile = tiles_for(9)[0]
    wafer.update_partial("die_04_00", 0, tile.reads_parallel_ohm, tile.reads_antiparallel_ohm, 40)
    wafer.checkpoint("die_04_00")
    wafer.close()  # as if killed: die_04_00 left running with partial data
    stray = path.with_name(f".{path.name}.1234-deadbeef.tmp")
    stray.write_bytes(b"half a file")
    assert stray_files(path) == [stray]

    with WaferFile.open_for_resume(path) as resumed:
        assert resumed.pending_dies() == ["die_04_00"]
        assert not stray.exists()
        with open_wafer(path) as reader:
            assert reader.dies["die_04_00"].status is DieStatus.PENDING
            assert reader.dies["die_04_00"].tiles == ()
            for k, truth in enumerate(done):
                np.testing.assert_array_equal(reader.tile("die_03_00", k).defects, truth.defects)
        measure(resumed, "die_04_00")
        assert resumed.pending_dies() == []


def test_only_one_writer_at_a_time(path: Path) -> None:
    first = WaferFile.create(path, "W42", STATION, PROCEDURE, dies=["die_03_00"])
    with pytest.raises(LabctlError, match="another labctl process"):
        WaferFile.open_for_resume(path)
    first.close()
    WaferFile.open_for_resume(path).close()


def test_create_refuses_an_existing_file_and_changes_nothing(path: Path) -> None:
    path.write_bytes(b"precious")
    with pytest.raises(LabctlError, match="already exists"):
        WaferFile.create(path, "W42", STATION, PROCEDURE)
    assert path.read_bytes() == b"precious"


@pytest.mark.parametrize("target", ["missing/W.h5", "a_file/W.h5", "a_dir"])
def test_create_reports_unwritable_paths(tmp_path: Path, target: str) -> None:
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_dir").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(LabctlError, match=r"cannot write|already exists") as info:
        WaferFile.create(tmp_path / target, "W42", STATION, PROCEDURE)
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_life_cycle_misuse_is_refused(path: Path) -> None:
    with WaferFile.create(path, "W42", STATION, PROCEDURE, dies=["die_03_00"]) as wafer:
        tile = tiles_for(0)[0]
        with pytest.raises(ValueError, match="begin_die"):
            wafer.write_tile("die_03_00", 0, tile.reads_parallel_ohm, tile.reads_antiparallel_ohm)
        wafer.begin_die("die_03_00")
        with pytest.raises(ValueError, match="tiles"):
            wafer.complete_die("die_03_00")
        wafer.write_tile("die_03_00", 1, tile.reads_parallel_ohm, tile.reads_antiparallel_ohm)
        with pytest.raises(ValueError, match="need tiles 0"):
            wafer.complete_die("die_03_00")
        wafer.write_tile("die_03_00", 0, tile.reads_parallel_ohm, tile.reads_antiparallel_ohm)
        wafer.complete_die("die_03_00")
        with pytest.raises(LabctlError, match="already complete"):
            wafer.begin_die("die_03_00")
        with pytest.raises(ValueError, match="not a die name"):
            wafer.begin_die("die_3_0")


def test_die_selection() -> None:
    assert resolve_die_selection(None) == list(ALL_DIE_NAMES)
    assert resolve_die_selection("all") == list(ALL_DIE_NAMES)
    assert resolve_die_selection("die_03_01, die_02_00,die_03_01") == ["die_02_00", "die_03_01"]
    with pytest.raises(LabctlError, match=r"unknown die name.*die_00_00.*bogus"):
        resolve_die_selection(["die_00_00", "bogus", "die_02_00"])
    with pytest.raises(LabctlError, match="empty"):
        resolve_die_selection(" , ")


def test_resume_refuses_a_truth_file(tmp_path: Path) -> None:
    from labctl.sim.params import SimParams
    from labctl.sim.wafer import VirtualWafer
    from labctl.store.truth import write_truth_file

    truth = write_truth_file(VirtualWafer(1, SimParams(tile_shapes=((4, 3),))), tmp_path / "t.h5")
    with pytest.raises(DataFormatError, match="simulator_truth file, not a measurement"):
        WaferFile.open_for_resume(truth)

"""Disk and output errors: a full or read-only folder is one error line and leaves the published
file as it was; a sweep to a disk that fills up stops with the station safe, and its resume
after freeing space completes the file (the die stored before the disk filled kept exactly)."""

from __future__ import annotations

import errno
import os
import shutil
from collections import namedtuple
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from labctl.core.errors import LabctlError
from labctl.core.roles import Role
from labctl.services.station_source import StationSource
from labctl.services.sweep.plan import SweepRequest
from labctl.services.sweep.service import SweepService
from labctl.sim.embedded import start_sim_station
from labctl.station.config import sim_station_config
from labctl.store import publish as publish_module
from labctl.store.layout import DieStatus
from labctl.store.publish import FREE_SPACE_MARGIN_BYTES, publish, snapshot, stray_files
from labctl.store.reader import open_wafer
from procedures.events import DIE_TOPIC

Usage = namedtuple("Usage", "total used free")
DIES = "die_03_00,die_04_00"
VALUES = {"cycles": 1}


def set_version(version: int):  # type: ignore[no-untyped-def]
    def change(h5: h5py.File) -> None:
        h5.attrs["version"] = version

    return change


def version_of(path: Path) -> int:
    with h5py.File(path, "r") as h5:
        return int(h5.attrs["version"])


def full_disk(monkeypatch: pytest.MonkeyPatch, free_bytes: int) -> None:
    monkeypatch.setattr(publish_module.shutil, "disk_usage",
                        lambda path: Usage(10 * free_bytes + 1, 9 * free_bytes + 1, free_bytes))


def test_a_full_disk_is_one_line_and_the_file_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.h5"
    publish(path, None, set_version(1))
    base = snapshot(path)
    full_disk(monkeypatch, FREE_SPACE_MARGIN_BYTES // 2)  # less than the copy needs
    with pytest.raises(LabctlError) as info:
        publish(path, base, set_version(2))
    message = str(info.value)
    assert "\n" not in message and "MiB free" in message and "resume" in message
    assert version_of(path) == 1 and stray_files(path) == []


def test_enough_space_for_the_copy_and_the_margin_publishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.h5"
    publish(path, None, set_version(1))
    full_disk(monkeypatch, FREE_SPACE_MARGIN_BYTES + path.stat().st_size)
    publish(path, path, set_version(2))
    assert version_of(path) == 2


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions that apply (not root)")
def test_a_read_only_folder_is_one_line_and_the_file_is_unchanged(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "a.h5"
    publish(path, None, set_version(1))
    folder.chmod(0o500)
    try:
        with pytest.raises(LabctlError) as info:
            publish(path, path, set_version(2))
        assert "\n" not in str(info.value) and str(path) in str(info.value)
        assert version_of(path) == 1
    finally:
        folder.chmod(0o700)


def complete_data(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with open_wafer(path) as reader:
        return {
            name: [(t.defects, t.r_parallel_ohm, t.r_antiparallel_ohm)
                   for t in reader.tiles(name)]
            for name, record in reader.dies.items() if record.status is DieStatus.COMPLETE
        }


def same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    return all(np.array_equal(x, y, equal_nan=True)
               for ta, tb in zip(a, b, strict=True) for x, y in zip(ta, tb, strict=True))


@pytest.mark.slow
def test_a_sweep_to_a_disk_that_fills_up_stops_safe_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABCTL_LOCK_DIR", str(tmp_path / "locks"))
    solo, out = tmp_path / "solo.h5", tmp_path / "out.h5"
    source = StationSource.simulator(5)
    service = SweepService(source)
    assert service.run(service.plan(SweepRequest(solo, DIES, VALUES))).finished

    real_disk_usage = shutil.disk_usage

    def fill_after_first_die(topic: str, record: Any) -> None:
        if topic == DIE_TOPIC and record.get("status") == "complete":
            full_disk(monkeypatch, 1 << 20)

    with start_sim_station(seed=5) as sim:  # the station outlives the run: read it afterwards
        served = SweepService(source, station_config=sim_station_config(sim.resources))
        with pytest.raises(LabctlError, match="MiB free"):
            served.run(served.plan(SweepRequest(out, DIES, VALUES)),
                       listeners=[fill_after_first_die])
        state = sim.state
        assert not state.smus[Role.READ_SMU].output_on and not state.smus[Role.GATE_SMU].output_on
        assert not state.controller.routed and not state.in_contact
    monkeypatch.setattr(publish_module.shutil, "disk_usage", real_disk_usage)
    before = complete_data(out)
    assert list(before) == ["die_03_00"]  # the published file is intact
    resumed = service.run(service.plan(service.resume_request(out)))
    assert resumed.finished
    after = complete_data(out)
    assert list(after) == list(complete_data(solo)) == ["die_03_00", "die_04_00"]
    assert same(after["die_03_00"], before["die_03_00"])  # kept exactly, not measured again


def test_a_read_only_file_system_is_one_line_and_the_file_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.h5"
    publish(path, None, set_version(1))

    def read_only(source: Path, target: Path) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(publish_module.os, "replace", read_only)
    with pytest.raises(LabctlError, match="Read-only file system") as info:
        publish(path, path, set_version(2))
    assert "\n" not in str(info.value)
    assert version_of(path) == 1 and stray_files(path) == []

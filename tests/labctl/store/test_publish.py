"""Atomic publication: a failed change leaves the published file and no temporary behind."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest

from labctl.errors import LabctlError
from labctl.store.publish import check_output_path, publish, stray_files, temp_path_for


def test_publish_creates_then_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "a.h5"
    publish(path, None, lambda h5: h5.attrs.__setitem__("version", 1))
    publish(path, path.read_bytes(), lambda h5: h5.attrs.__setitem__("version", 2))
    with h5py.File(path, "r") as h5:
        assert h5.attrs["version"] == 2
    assert stray_files(path) == []


def test_a_change_that_raises_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "a.h5"
    publish(path, None, lambda h5: h5.attrs.__setitem__("version", 1))
    before = path.read_bytes()

    def broken(h5: h5py.File) -> None:
        h5.attrs["version"] = 2
        raise RuntimeError("instrument exploded")

    with pytest.raises(RuntimeError, match="exploded"):
        publish(path, before, broken)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_temporary_names_are_hidden_unique_and_found_only_for_their_file(tmp_path: Path) -> None:
    path = tmp_path / "wafer[1].h5"
    first, second = temp_path_for(path), temp_path_for(path)
    assert first != second and first.name.startswith(".wafer[1].h5.")
    first.write_bytes(b"")
    temp_path_for(tmp_path / "other.h5").write_bytes(b"")
    assert stray_files(path) == [first]


def test_output_path_checks(tmp_path: Path) -> None:
    check_output_path(tmp_path / "new.h5")
    with pytest.raises(LabctlError, match="does not exist"):
        check_output_path(tmp_path / "nope" / "new.h5")
    with pytest.raises(LabctlError, match="is a directory"):
        check_output_path(tmp_path)

"""Atomic publication: a failed change leaves the published file and no temporary behind."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest

from labctl.core.errors import LabctlError
from labctl.store.publish import (
    check_output_path,
    copy_file,
    publish,
    remove_stray_files,
    snapshot,
    stray_files,
    temp_path_for,
)


def set_version(version: int):  # type: ignore[no-untyped-def]
    def change(h5: h5py.File) -> None:
        h5.attrs["version"] = version

    return change


def version_of(path: Path) -> int:
    with h5py.File(path, "r") as h5:
        return int(h5.attrs["version"])


def test_publish_creates_then_replaces_from_a_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "a.h5"
    publish(path, None, set_version(1))
    base = snapshot(path)
    publish(path, base, set_version(2))
    assert version_of(path) == 2
    assert version_of(base) == 1  # the snapshot kept the state it was taken of
    publish(path, base, set_version(3))
    assert version_of(path) == 3
    assert stray_files(path) == []
    assert remove_stray_files(path) == [base]
    assert list(tmp_path.iterdir()) == [path]


def test_copy_file_copies_bytes(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000
    (tmp_path / "src").write_bytes(data)
    (tmp_path / "dst").write_bytes(b"longer old content" * 100000)
    copy_file(tmp_path / "src", tmp_path / "dst")
    assert (tmp_path / "dst").read_bytes() == data


def test_a_change_that_raises_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "a.h5"
    publish(path, None, set_version(1))
    before = path.read_bytes()
    base = snapshot(path)

    def broken(h5: h5py.File) -> None:
        h5.attrs["version"] = 2
        raise RuntimeError("instrument exploded")

    with pytest.raises(RuntimeError, match="exploded"):
        publish(path, base, broken)
    assert path.read_bytes() == before
    assert sorted(tmp_path.iterdir()) == sorted([path, base])


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

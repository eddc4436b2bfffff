"""The Windows behaviour of publish, exercised here by standing in for Windows' refusals: a
replace refused while another program holds the target open is retried, then reported."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import pytest

from labctl.core.errors import LabctlError
from labctl.store import publish as publish_module
from labctl.store.publish import publish, stray_files


def refuse_replace(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """os.replace raises PermissionError (WinError 32's class) the first `times` calls."""
    calls: list[int] = []
    real_replace = os.replace

    def replace(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        calls.append(1)
        if len(calls) <= times:
            raise PermissionError(13, "The process cannot access the file")
        real_replace(src, dst)

    monkeypatch.setattr(publish_module.os, "replace", replace)
    monkeypatch.setattr(publish_module, "RETRY_REFUSED_REPLACE", True)
    return calls


def write_version(version: int):  # type: ignore[no-untyped-def]
    def change(h5: h5py.File) -> None:
        h5.attrs["version"] = version

    return change


def test_a_replace_refused_for_a_while_is_retried_until_it_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.h5"
    publish(path, None, write_version(1))
    calls = refuse_replace(monkeypatch, times=3)
    publish(path, path, write_version(2))
    assert len(calls) == 4
    with h5py.File(path, "r") as h5:
        assert int(h5.attrs["version"]) == 2
    assert stray_files(path) == []


def test_a_replace_refused_past_the_wait_is_one_error_and_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.h5"
    publish(path, None, write_version(1))
    refuse_replace(monkeypatch, times=10**6)
    monkeypatch.setattr(publish_module, "REPLACE_WAIT_s", 0.05)
    with pytest.raises(LabctlError, match="open in another program") as info:
        publish(path, path, write_version(2))
    assert "\n" not in str(info.value)
    with h5py.File(path, "r") as h5:
        assert int(h5.attrs["version"]) == 1
    assert stray_files(path) == []


def test_on_posix_a_refused_replace_is_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.h5"
    publish(path, None, write_version(1))
    calls = refuse_replace(monkeypatch, times=1)
    monkeypatch.setattr(publish_module, "RETRY_REFUSED_REPLACE", False)
    with pytest.raises(LabctlError, match="cannot write"):
        publish(path, path, write_version(2))
    assert len(calls) == 1

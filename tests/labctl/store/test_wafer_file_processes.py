"""Crash safety and concurrent reading, with real processes: a writer killed with SIGKILL at
arbitrary moments leaves a file that opens with every completed die intact and resumes to the
same data as an uninterrupted run; a reader in another process sees completed dies while the
writer works, and an open reader keeps a consistent snapshot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from labctl.analysis.classify import classify_tile
from labctl.core.wafer_map import ALL_DIE_NAMES
from labctl.store import DieStatus, WaferFile, open_wafer
from labctl.store.publish import stray_files
from labctl.testing.synthetic import synthetic_die

DIES = ALL_DIE_NAMES[:12]
SHAPES = ((40, 20), (20, 10))

#: A miniature sweep: every die publishes begin, one checkpoint per tile and complete.
#: argv: path, "create" | "resume", "free" | "stepped" (wait for a stdin line before each die).
WRITER = f"""
import sys
from labctl.testing.synthetic import synthetic_die
from labctl.store import WaferFile
from labctl.core.wafer_map import ALL_DIE_NAMES

path, how, pace = sys.argv[1:4]
dies = {list(DIES)!r}
wafer = (WaferFile.create(path, "W-proc", {{}}, {{"cycles": 2}}, dies=dies) if how == "create"
         else WaferFile.open_for_resume(path))
print("open", flush=True)
for name in wafer.pending_dies():
    if pace == "stepped":
        sys.stdin.readline()
    tiles = synthetic_die([7, ALL_DIE_NAMES.index(name)], {SHAPES!r}, cycles=2)
    wafer.begin_die(name)
    for k, tile in enumerate(tiles):
        wafer.update_partial(name, k, tile.reads_parallel_ohm, tile.reads_antiparallel_ohm, 1)
        wafer.checkpoint(name)
        wafer.write_tile(name, k, tile.reads_parallel_ohm, tile.reads_antiparallel_ohm)
    wafer.complete_die(name)
    print(name, flush=True)
wafer.close()
"""


def start_writer(path: Path, how: str, pace: str = "free") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), how, pace],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent,
    )


_EXPECTED: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}


def expected(name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Defects and float32 R_P of an uninterrupted measurement of `name`."""
    if name not in _EXPECTED:
        tiles = synthetic_die([7, ALL_DIE_NAMES.index(name)], SHAPES, cycles=2)
        results = [classify_tile(t.reads_parallel_ohm, t.reads_antiparallel_ohm) for t in tiles]
        _EXPECTED[name] = [(r.defects, r.r_parallel_ohm.astype(np.float32)) for r in results]
    return _EXPECTED[name]


def check_complete_dies(path: Path) -> int:
    """Open `path`, compare every complete die with the uninterrupted result; return the count."""
    with open_wafer(path) as reader:
        complete = [n for n, r in reader.dies.items() if r.status is DieStatus.COMPLETE]
        for name in complete:
            for k, (defects, r_parallel) in enumerate(expected(name)):
                tile = reader.tile(name, k, with_reads=True)
                np.testing.assert_array_equal(tile.defects, defects)
                np.testing.assert_array_equal(tile.r_parallel_ohm.astype(np.float32), r_parallel)
                assert tile.reads_parallel_ohm is not None
    return len(complete)


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def wait_for_temp_file(path: Path, writer: subprocess.Popen[str]) -> bool:
    """Poll until the writer is in the middle of a publish (its temporary file exists); False
    if it finished first."""
    while writer.poll() is None:
        if stray_files(path):
            return True
    return False


@pytest.mark.slow
def test_sigkill_at_any_moment_then_resume_gives_the_uninterrupted_result(
    tmp_path: Path,
) -> None:
    path = tmp_path / "W-proc.h5"
    writer = start_writer(path, "create")
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "open"
    # First kill: right after a die was reported complete.
    writer.stdout.readline()
    kill(writer)
    done = check_complete_dies(path)
    assert done >= 1
    # Then kill resumed writers while a publish is in flight (its temporary file exists): in
    # the middle of writing a checkpoint or a die. Retry until two kills hit mid-publish.
    mid_publish_kills = 0
    for _ in range(6):
        writer = start_writer(path, "resume")
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "open"
        writer.stdout.readline()  # at least one more die completes in this run
        in_flight = wait_for_temp_file(path, writer)
        kill(writer)
        if in_flight and stray_files(path):
            mid_publish_kills += 1
        now_done = check_complete_dies(path)  # opens, every complete die intact
        assert now_done > done
        done = now_done
        if mid_publish_kills == 2 or done >= len(DIES) - 1:
            break
    assert mid_publish_kills >= 1
    writer = start_writer(path, "resume")
    assert writer.wait(timeout=120) == 0
    assert not stray_files(path)
    assert check_complete_dies(path) == len(DIES)
    with WaferFile.open_for_resume(path) as wafer:
        assert wafer.pending_dies() == []
    assert os.listdir(tmp_path) == [path.name]  # no temporary, snapshot or lock file left


@pytest.mark.slow
def test_reader_in_another_process_sees_completed_dies_while_the_writer_works(
    tmp_path: Path,
) -> None:
    path = tmp_path / "W-proc.h5"
    writer = start_writer(path, "create", pace="stepped")
    assert writer.stdin is not None and writer.stdout is not None
    assert writer.stdout.readline().strip() == "open"
    try:
        for step, name in enumerate(DIES[:4]):
            with open_wafer(path) as before:
                assert before.dies[name].status is DieStatus.PENDING
                writer.stdin.write("go\n")
                writer.stdin.flush()
                assert writer.stdout.readline().strip() == name
                # The writer replaced the file under this open reader: its snapshot is intact.
                assert before.dies[name].status is DieStatus.PENDING
                assert check_complete_dies(before.path) == step + 1
                for done_name in DIES[:step]:
                    assert before.tile(done_name, 0).defects is not None
        writer.stdin.write("go\n" * len(DIES))
        writer.stdin.flush()
        # Free-running writer: read as fast as possible until it finishes; every open succeeds
        # and shows a growing set of intact complete dies.
        seen = []
        while writer.poll() is None:
            seen.append(check_complete_dies(path))
        assert writer.returncode == 0
        assert seen == sorted(seen)
        assert check_complete_dies(path) == len(DIES)
    finally:
        if writer.poll() is None:
            kill(writer)


def test_writer_process_holds_the_lock_until_it_dies(tmp_path: Path) -> None:
    path = tmp_path / "W-proc.h5"
    writer = start_writer(path, "create", pace="stepped")
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "open"
    from labctl.core.errors import LabctlError

    with pytest.raises(LabctlError, match="another labctl process"):
        WaferFile.open_for_resume(path)
    kill(writer)
    with WaferFile.open_for_resume(path) as wafer:
        assert wafer.pending_dies() == list(DIES)
    assert os.path.exists(path)

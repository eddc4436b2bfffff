"""`labctl sweep`: dry-run plan, a small simulated sweep, bad input refused with one line and
nothing changed, and a sweep killed with SIGKILL mid-die then resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from labctl.cli.main import main
from labctl.core.defects import DefectCode
from labctl.sim.embedded import start_sim_station
from labctl.station.config import SIM_STATION_FILE
from labctl.store.layout import FORMAT_VERSION, DieStatus
from labctl.store.reader import open_wafer

SIM = ["sweep", "--sim", "--seed", "5"]


def tree(path: Path) -> dict[str, bytes]:
    """Every file under `path` with its content: to prove a command changed nothing."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


def test_dry_run_prints_the_plan_and_touches_nothing(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "wafer.h5"
    assert main([*SIM, "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "36 selected, 0 already complete, 36 to measure" in text
    assert "0.01 NPLC x 20 ms at 50 Hz" in text and "over 4 channel(s)" in text
    assert "instrument limit:" in text and "adaptive re-reads at NPLC 1" in text
    assert "per die:   20600 cells, 82400 readings" in text
    assert "estimated duration: " in text
    assert tree(tmp_path) == {}
    # Ten times the integration time: the estimate grows accordingly.
    assert main([*SIM, "--out", str(out), "--dry-run", "--nplc", "1"]) == 0
    slow = capsys.readouterr().out
    assert _estimate_line(slow) != _estimate_line(text)
    assert " h " in _estimate_line(slow)


def _estimate_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("estimated duration"))


def test_small_sweep_writes_file_log_progress_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "wafer.h5"
    assert main([*SIM, "--out", str(out), "--dies", "die_04_00,die_03_00", "--cycles", "1"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split()[:3] == ["die", "status", "yield"]
    assert lines[2].split()[:2] == ["die_03_00", "complete"]
    assert lines[3].split()[:2] == ["die_04_00", "complete"]
    assert "2 complete" in captured.out
    assert "[2/2] die_04_00 complete" in captured.err and "cells/s" in captured.err
    log_text = (tmp_path / "wafer.h5.log").read_text()
    assert "die_03_00 (1/2): complete" in log_text and "summary:" in log_text
    with open_wafer(out) as reader:
        assert reader.info.wafer_id == "sim-seed-5"
        assert all(rec.status is DieStatus.COMPLETE for rec in reader.dies.values())
    # --dry-run --resume knows what is left.
    assert main([*SIM, "--out", str(out), "--dies", "die_04_00,die_03_00,die_05_00",
                 "--cycles", "1", "--batching", "row", "--resume", "--dry-run"]) == 0
    assert "3 selected, 2 already complete, 1 to measure" in capsys.readouterr().out


def _newer_format_file(path: Path) -> None:
    with h5py.File(path, "w") as h5:
        h5.attrs["labctl_format"] = FORMAT_VERSION + 1
        h5.create_group("dies")


def _foreign_hdf5_file(path: Path) -> None:
    with h5py.File(path, "w") as h5:
        h5.attrs["something_else"] = 1


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (None, ["--dies", "die_00_00,die_03_00"], "unknown die name(s): die_00_00"),
        (lambda p: p.write_bytes(b"old data"), [], "already exists: resume it"),
        (lambda p: p.write_bytes(b"not hdf5"), ["--resume"], "is not an HDF5 file"),
        (_newer_format_file, ["--resume"], "newer than this labctl supports"),
        (_foreign_hdf5_file, ["--resume"], "not a labctl wafer file"),
        (None, ["--resume"], "nothing to resume"),
        (None, ["--write-voltage", "1.5"], "exceeds station 'sim' limit of 1.2 V"),
        (None, ["--nplc", "50"], "nplc = 50 is outside"),
        (None, ["--retries", "0"], "retry_attempts = 0 is outside 1 ... 10"),
        (None, ["--retry-backoff", "nan"], "retry_backoff must be a finite number"),
    ],
)
def test_bad_input_gets_one_line_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture, make, args: list[str], message: str
) -> None:
    out = tmp_path / "wafer.h5"
    if make is not None:
        make(out)
    before = tree(tmp_path)
    assert main([*SIM, "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("labctl: error: ")
    assert message in err[0]
    assert tree(tmp_path) == before


def test_unwritable_output_path_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert main([*SIM, "--out", str(not_a_dir / "wafer.h5")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert main(["sweep", "--station", str(tmp_path / "missing.toml"),
                 "--out", str(tmp_path / "w.h5")]) == 2
    assert "cannot read station file" in capsys.readouterr().err
    assert tree(tmp_path) == {"file": b"x"}


def test_seed_without_sim_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["sweep", "--station", str(SIM_STATION_FILE), "--seed", "3",
                 "--out", str(tmp_path / "w.h5"), "--dry-run"]) == 2
    assert "--seed only applies with --sim" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def _wait_for_mid_die(out: Path, process: subprocess.Popen, timeout_s: float = 60.0) -> str:
    """Poll the file (as a concurrent reader would) until a die is complete and the next one
    is running with partial data; return the running die's name."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "sweep ended before it could be interrupted"
        if out.exists():
            try:
                with open_wafer(out) as reader:
                    statuses = {n: r.status for n, r in reader.dies.items()}
                    running = [n for n, s in statuses.items() if s is DieStatus.RUNNING
                               and reader.dies[n].tiles]
                    if running and DieStatus.COMPLETE in statuses.values():
                        return running[0]
            except Exception:  # caught between two publications: poll again
                pass
        time.sleep(0.01)
    raise AssertionError("no die was caught mid-measurement")


def _maps(path: Path) -> dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    with open_wafer(path) as reader:
        return {
            name: [(t.defects, t.r_parallel_ohm, t.r_antiparallel_ohm)
                   for t in reader.tiles(name)]
            for name, rec in reader.dies.items() if rec.status is DieStatus.COMPLETE
        }


@pytest.mark.slow
def test_kill_mid_die_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    dies = "die_02_00,die_03_00,die_04_00"
    # Checkpoints after every pass publish the running die's partial data, which is how the
    # poll below sees that a die is in progress.
    args = [*SIM, "--dies", dies, "--cycles", "1", "--checkpoint-interval", "0"]
    out = tmp_path / "killed.h5"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "labctl.cli.main", *args, "--out", str(out)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        interrupted = _wait_for_mid_die(out, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    # The killed sweep left a file that opens, with its completed dies intact.
    before = _maps(out)
    assert before and interrupted not in before
    with open_wafer(out) as reader:
        assert reader.dies[interrupted].status is DieStatus.RUNNING

    resumed = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "skipped" in resumed.stdout
    after = _maps(out)
    assert sorted(after) == sorted(dies.split(","))
    for name, tiles in before.items():  # completed dies were not measured again
        for (d0, p0, a0), (d1, p1, a1) in zip(tiles, after[name], strict=True):
            np.testing.assert_array_equal(d0, d1)
            np.testing.assert_array_equal(p0, p1)
            np.testing.assert_array_equal(a0, a1)

    reference = tmp_path / "uninterrupted.h5"
    assert main([*args, "--out", str(reference)]) == 0
    expected = _maps(reference)
    for name in expected:
        for (d0, p0, a0), (d1, p1, a1) in zip(expected[name], after[name], strict=True):
            np.testing.assert_array_equal(d0, d1)  # identical defect maps
            ok = d0 == DefectCode.OK
            for ref, got in ((p0, p1), (a0, a1)):
                relative = np.abs(got[ok] / ref[ok] - 1.0)
                # ~1 % read noise per read at NPLC 0.1: equal within noise, nowhere near 8 %.
                assert np.median(relative) < 0.01 and relative.max() < 0.08, name


def test_station_file_run_and_sigterm_stop(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`--station FILE` reaches the instruments named in the file; SIGTERM stops cleanly after
    the current step: the die in progress is marked aborted, exit status 130, resumable."""
    out = tmp_path / "wafer.h5"
    with start_sim_station(seed=5, read_channels=4) as sim:
        text = SIM_STATION_FILE.read_text()
        for role, resource in [*sim.resources.items(), *sim.read_channel_resources.items()]:
            port = resource.split("::")[2]
            text = text.replace(_sim_toml_resource(role), f"TCPIP::127.0.0.1::{port}::SOCKET")
        station_file = tmp_path / "bench.toml"
        station_file.write_text(text)

        def stop_when_second_die_runs() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if sim.state.die_position == (4, 0) and sim.state.in_contact:
                    os.kill(os.getpid(), signal.SIGTERM)
                    return
                time.sleep(0.002)

        killer = threading.Thread(target=stop_when_second_die_runs)
        killer.start()
        status = main(["sweep", "--station", str(station_file), "--out", str(out),
                       "--dies", "die_03_00,die_04_00,die_05_00", "--batching", "row",
                       "--cycles", "1"])
        killer.join()
        assert not sim.state.in_contact
        assert not sim.state.smus["read_smu"].output_on
    assert status == 130
    captured = capsys.readouterr()
    assert "--resume" in captured.out and "die_04_00: aborted" in captured.out
    with open_wafer(out) as reader:
        assert reader.info.wafer_id == "wafer"
        assert reader.dies["die_03_00"].status is DieStatus.COMPLETE
        assert reader.dies["die_04_00"].status is DieStatus.FAILED
        assert reader.dies["die_05_00"].status is DieStatus.PENDING


def _sim_toml_resource(role: str) -> str:
    ports = {"prober": 15000, "read_smu": 15001, "gate_smu": 15002, "controller": 15003,
             "read_smu_2": 15004, "read_smu_3": 15005, "read_smu_4": 15006}
    return f"TCPIP::127.0.0.1::{ports[role]}::SOCKET"

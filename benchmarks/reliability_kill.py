"""Kill harness: ``labctl sweep`` killed with SIGKILL at random moments, resumed after each kill.

The acceptance of docs/reliability.md: after every kill the file opens and every die complete
in it holds exactly the data of an uninterrupted run; a die once complete is never measured again
(nothing duplicated); the final ``--resume`` completes the wafer and the file equals the
uninterrupted run (nothing lost); no temporary file is left beside it (nothing half-written).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labctl.store.layout import DieStatus
from labctl.store.publish import stray_files
from labctl.store.reader import open_wafer

#: A die's identity in a file: status, finish time and its data, to prove it was never redone.
DieData = tuple[str, list[tuple[np.ndarray, ...]]]


def sweep_command(out: Path, seed: int, dies: str, cycles: int) -> list[str]:
    return [sys.executable, "-m", "labctl.cli.main", "sweep", "--sim", "--seed", str(seed),
            "--dies", dies, "--cycles", str(cycles), "--checkpoint-interval", "0.5",
            "--out", str(out)]


def run_to_end(out: Path, seed: int, dies: str, cycles: int, resume: bool = False
               ) -> subprocess.CompletedProcess[str]:
    command = sweep_command(out, seed, dies, cycles) + (["--resume"] if resume else [])
    return subprocess.run(command, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def complete_dies(path: Path) -> dict[str, DieData]:
    """Complete die -> (finish time, per tile: defects, R_P, R_AP, raw P and AP reads)."""
    result: dict[str, DieData] = {}
    with open_wafer(path) as reader:
        for name, record in reader.dies.items():
            if record.status is DieStatus.COMPLETE:
                tiles = [(t.defects, t.r_parallel_ohm, t.r_antiparallel_ohm,
                          t.reads_parallel_ohm, t.reads_antiparallel_ohm)
                         for t in reader.tiles(name, with_reads=True)]
                result[name] = (record.finished, tiles)  # type: ignore[assignment]
    return result


def same_data(a: DieData, b: DieData) -> bool:
    return all(
        all(np.array_equal(x, y, equal_nan=True) for x, y in zip(ta, tb, strict=True))
        for ta, tb in zip(a[1], b[1], strict=True)
    )


@dataclass
class KillReport:
    kills: int = 0
    kill_delays_s: list[float] = field(default_factory=list)
    complete_after_kill: list[int] = field(default_factory=list)
    mid_publish_kills: int = 0  # a temporary file existed at the moment of the kill
    unreadable_after_kill: int = 0
    changed_data: list[str] = field(default_factory=list)  # complete, but not the reference
    remeasured: list[str] = field(default_factory=list)  # complete, then measured again
    final_returncode: int | None = None
    final_equal: bool = False
    missing: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return (self.final_returncode == 0 and self.final_equal and not self.missing
                and not self.changed_data and not self.remeasured
                and not self.unreadable_after_kill and not self.leftovers)


def kill_and_resume(
    out: Path,
    reference: dict[str, DieData],
    *,
    seed: int,
    dies: str,
    cycles: int,
    kills: int,
    max_delay_s: float,
    rng: np.random.Generator,
    min_delay_s: float = 0.0,
) -> KillReport:
    """Start the sweep (or ``--resume`` it), SIGKILL it after a random delay (uniform between
    ``min_delay_s`` and ``max_delay_s``), check the file; ``kills`` times; then resume to the
    end and compare with ``reference``."""
    report = KillReport()
    seen: dict[str, DieData] = {}
    attempts = 0
    while report.kills < kills and attempts < 4 * kills:
        attempts += 1
        command = sweep_command(out, seed, dies, cycles)
        if out.exists():
            command.append("--resume")
        delay_s = float(rng.uniform(min_delay_s, max_delay_s))
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            process.wait(timeout=delay_s)
            continue  # finished before its moment came: not a kill
        except subprocess.TimeoutExpired:
            in_flight = bool(stray_files(out))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
        report.kills += 1
        report.kill_delays_s.append(delay_s)
        report.mid_publish_kills += int(in_flight and bool(stray_files(out)))
        if not out.exists():
            report.complete_after_kill.append(0)
            continue
        try:
            now = complete_dies(out)
        except Exception:  # the acceptance counts it; keep killing to see the rest
            report.unreadable_after_kill += 1
            continue
        _judge(now, seen, reference, report)
        report.complete_after_kill.append(len(now))
    final = run_to_end(out, seed, dies, cycles, resume=out.exists())
    report.final_returncode = final.returncode
    if final.returncode == 0:
        now = complete_dies(out)
        _judge(now, seen, reference, report)
        report.missing = sorted(set(reference) - set(now))
        report.final_equal = not report.missing and all(
            same_data(now[name], reference[name]) for name in reference
        )
    report.leftovers = sorted(p.name for p in out.parent.iterdir()
                              if p.name.startswith(f".{out.name}."))
    return report


def _judge(now: dict[str, DieData], seen: dict[str, DieData], reference: dict[str, DieData],
           report: KillReport) -> None:
    for name, data in now.items():
        if name in reference and not same_data(data, reference[name]):
            report.changed_data.append(name)
        if name in seen and seen[name][0] != data[0]:
            report.remeasured.append(name)
        seen.setdefault(name, data)


def timed_reference(out: Path, seed: int, dies: str, cycles: int) -> tuple[float, float]:
    """Run the sweep uninterrupted; (seconds until the file appeared, total seconds)."""
    command = sweep_command(out, seed, dies, cycles)
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    appeared_s = 0.0
    while process.poll() is None:
        if not appeared_s and out.exists():
            appeared_s = time.monotonic() - started
        time.sleep(0.01)
    total_s = time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(f"reference sweep failed: {process.stderr.read()[-500:]}")
    return appeared_s or total_s, total_s

"""Soak harness: a wafer sweep under injected faults, compared die by die with a fault-free run.

The acceptance of docs/reliability.md: every die of a sweep under faults ends complete or failed
with a reason, and every complete die's data equal those of a fault-free sweep of the same wafer
(the same defect class in every cell; resistances within read noise). Used by
``benchmarks/bench_reliability.py`` (full wafer, several seeds) and by the tests (a few small
dies).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from labctl.core.roles import Role
from labctl.services.sweep.runner import ProcedureRunner
from labctl.sim.embedded import start_sim_station
from labctl.sim.faults import FaultCounts, FaultSpec, parse_fault_spec
from labctl.sim.params import SimParams
from labctl.station.config import StationConfig, sim_station_config
from labctl.station.station import Station
from labctl.store.layout import DieStatus
from labctl.store.reader import open_wafer
from procedures.wafer_sweep import WaferSweepProcedure

#: The fault mix of the soak: about 1.5 % of all replies lost, late, garbled or an error code,
#: plus dropped and refused connections, restarts, current spikes and lost contacts.
SOAK_FAULTS = (
    "garble=0.01;timeout=0.003;delay=0.002,delay_s=1.5;drop=0.002;refuse=0.05;restart=0.001;"
    "prober:error=0.01;smu:compliance=0.01;contact_loss=0.02"
)
#: VISA timeouts of the soak (s): short, so that a lost reply costs little time.
SOAK_TIMEOUTS_s: Mapping[Role, float] = {
    Role.PROBER: 0.5, Role.READ_SMU: 1.0, Role.GATE_SMU: 0.5, Role.CONTROLLER: 0.5,
}
#: Deviations beyond this many read-noise sigmas count as different data.
MAX_DEVIATION_SIGMAS = 6.0


@dataclass
class SoakRun:
    """One sweep: where its file is, how each die ended and what was injected."""

    path: Path
    statuses: dict[str, str]
    reasons: dict[str, str]
    counts: dict[str, FaultCounts]
    elapsed_s: float
    error: str | None = None

    def total_counts(self) -> FaultCounts:
        total = FaultCounts()
        for count in self.counts.values():
            total = total.merged(count)
        return total


def with_timeouts(config: StationConfig, timeouts_s: Mapping[str, float]) -> StationConfig:
    """``config`` with each role's VISA timeout replaced."""
    instruments = {
        role: replace(inst, timeout_s=timeouts_s.get(role, inst.timeout_s))
        for role, inst in config.instruments.items()
    }
    return replace(config, instruments=instruments)


def sweep_in_process(
    out: Path,
    wafer_seed: int,
    dies: str,
    faults: FaultSpec | str | None = None,
    params: SimParams | None = None,
    *,
    cycles: int = 2,
    retry_attempts: int = 4,
    timeouts_s: Mapping[Role, float] = SOAK_TIMEOUTS_s,
) -> SoakRun:
    """Sweep ``dies`` of the simulated wafer ``wafer_seed`` into ``out`` with ``faults``."""
    spec = parse_fault_spec(faults) if isinstance(faults, str) else faults
    started = time.monotonic()
    error: str | None = None
    with start_sim_station(seed=wafer_seed, params=params, faults=spec) as sim:
        config = with_timeouts(sim_station_config(sim.resources), timeouts_s)
        with Station.connect(config, attempts=4) as station:
            procedure = WaferSweepProcedure(
                dies=dies, output_file=str(out), wafer_id=f"sim-seed-{wafer_seed}",
                cycles=cycles, retry_attempts=retry_attempts, retry_backoff=0.02,
                checkpoint_interval=3600.0, max_consecutive_failures=36,
            )
            procedure.station = station
            try:
                ProcedureRunner(procedure).run()
            except Exception as exc:  # reported, and judged by the caller
                error = f"{type(exc).__name__}: {exc}"
        counts = sim.fault_counts()
    elapsed_s = time.monotonic() - started
    statuses: dict[str, str] = {}
    reasons: dict[str, str] = {}
    if out.exists():
        with open_wafer(out) as reader:
            statuses = {name: rec.status.value for name, rec in reader.dies.items()}
            reasons = {name: rec.failure_reason for name, rec in reader.dies.items()}
    return SoakRun(out, statuses, reasons, counts, elapsed_s, error)


@dataclass
class Comparison:
    """A sweep under faults judged against the fault-free sweep of the same wafer."""

    dies: int = 0
    complete: int = 0
    failed_with_reason: int = 0
    unfinished: list[str] = field(default_factory=list)  # neither complete nor failed+reason
    lost: list[str] = field(default_factory=list)  # complete fault-free, failed under faults
    wrongly_complete: list[str] = field(default_factory=list)  # failed fault-free
    defect_mismatches: dict[str, int] = field(default_factory=dict)  # die -> cells
    cells_compared: int = 0
    worst_deviation_sigmas: float = 0.0
    median_deviation_sigmas: float = 0.0
    deviant_dies: dict[str, float] = field(default_factory=dict)  # die -> worst, in sigmas

    @property
    def accepted(self) -> bool:
        """Every die ended cleanly and every complete die equals the fault-free data."""
        return not (self.unfinished or self.wrongly_complete or self.defect_mismatches
                    or self.deviant_dies)


def compare(run: Path, reference: Path) -> Comparison:
    """Judge the sweep in ``run`` against the fault-free sweep in ``reference``."""
    result = Comparison()
    deviations: list[np.ndarray] = []
    with open_wafer(run) as got, open_wafer(reference) as want:
        for name, record in got.dies.items():
            result.dies += 1
            ref = want.dies.get(name)
            if record.status is DieStatus.FAILED and record.failure_reason.strip():
                result.failed_with_reason += 1
                if ref is not None and ref.status is DieStatus.COMPLETE:
                    result.lost.append(name)
                continue
            if record.status is not DieStatus.COMPLETE:
                result.unfinished.append(name)
                continue
            result.complete += 1
            if ref is None or ref.status is not DieStatus.COMPLETE:
                result.wrongly_complete.append(name)
                continue
            mismatched, die_deviation = _compare_die(got.tiles(name), want.tiles(name))
            if mismatched:
                result.defect_mismatches[name] = mismatched
            deviations.append(die_deviation)
            result.cells_compared += die_deviation.size
            worst = float(np.max(die_deviation)) if die_deviation.size else 0.0
            if worst > MAX_DEVIATION_SIGMAS:
                result.deviant_dies[name] = worst
    if deviations:
        every = np.concatenate(deviations)
        result.worst_deviation_sigmas = float(np.max(every))
        result.median_deviation_sigmas = float(np.median(every))
    return result


def _compare_die(got: list[Any], want: list[Any]) -> tuple[int, np.ndarray]:
    """(cells classified differently, |ln R ratio| / read noise of ok cells, P and AP)."""
    mismatched = 0
    deviations = []
    for tile, ref in zip(got, want, strict=True):
        mismatched += int(np.count_nonzero(tile.defects != ref.defects))
        ok = (tile.defects == 0) & (ref.defects == 0)
        noise_log10 = ref.thresholds.read_noise_log10 if ref.thresholds is not None else math.nan
        sigma = math.log(10.0) * noise_log10 if math.isfinite(noise_log10) else 0.01
        for measured, expected in ((tile.r_parallel_ohm, ref.r_parallel_ohm),
                                   (tile.r_antiparallel_ohm, ref.r_antiparallel_ohm)):
            ratio = np.abs(np.log(measured[ok] / expected[ok]))
            deviations.append(ratio / max(sigma, 1e-6))
    return mismatched, np.concatenate(deviations) if deviations else np.empty(0)


def faulty_reply_fraction(counts: Mapping[str, FaultCounts]) -> float:
    """Share of all replies that were lost, late, garbled or an error code."""
    replies = sum(c.replies for c in counts.values())
    return sum(c.faulty_replies for c in counts.values()) / replies if replies else 0.0

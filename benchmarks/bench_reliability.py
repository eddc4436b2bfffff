"""Reliability figures (docs/reliability.md): what a night of sweeps survives.

1. Soak: full 36-die sweeps of the simulated wafer under the fault mix ``SOAK_FAULTS`` (about
   1.5 % of all replies lost, late, garbled or an error code; dropped, refused and restarted
   connections; current spikes; contact lost mid-acquisition), one per fault seed, each compared
   die by die with a fault-free sweep of the same wafer.
2. Kill: ``labctl sweep`` killed with SIGKILL at random moments across a wafer, resumed after
   every kill; the final file compared with an uninterrupted run.
3. Bad input: seeded random and mutated inputs for every parser; crashes and partial writes.

    python -m benchmarks.bench_reliability [--wafer-seed N] [--fault-seeds 1 2 3]
        [--kills 20] [--inputs 1000] [--skip-soak] [--skip-kill] [--skip-inputs]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.reliability_inputs import (
    Tally,
    fuzz_die_selection,
    fuzz_fault_spec,
    fuzz_hdf5,
    fuzz_protocols,
    fuzz_station_file,
    fuzz_sweep_cli,
    fuzz_weights,
)
from benchmarks.reliability_kill import complete_dies, kill_and_resume, timed_reference
from benchmarks.reliability_soak import (
    SOAK_FAULTS,
    compare,
    faulty_reply_fraction,
    sweep_in_process,
)
from labctl.core.wafer_map import ALL_DIE_NAMES
from labctl.sim.faults import parse_fault_spec, with_seed

ALL_DIES = ",".join(ALL_DIE_NAMES)


def soak(wafer_seed: int, fault_seeds: list[int], directory: Path) -> bool:
    print(f"== soak: 36-die sweeps of wafer seed {wafer_seed}, 2 cycles, fault mix:")
    print(f"   {SOAK_FAULTS}")
    reference_path = directory / "reference.h5"
    reference = sweep_in_process(reference_path, wafer_seed, ALL_DIES, None)
    done = list(reference.statuses.values()).count("complete")
    print(f"fault-free reference: {done} complete, {36 - done} failed "
          f"({', '.join(sorted({r for r in reference.reasons.values() if r}))[:90]}), "
          f"{reference.elapsed_s:.1f} s")
    print(f"{'seed':>4} {'replies':>8} {'faulty':>7} "
          f"{'complete':>8} {'failed':>6} {'lost':>4} {'defects':>7} {'worst':>6} "
          f"{'time':>6}  verdict")
    accepted = True
    spec = parse_fault_spec(SOAK_FAULTS)
    for seed in fault_seeds:
        path = directory / f"faulty-{seed}.h5"
        run = sweep_in_process(path, wafer_seed, ALL_DIES, with_seed(spec, seed))
        result = compare(path, reference_path)
        total = run.total_counts()
        injected = " ".join(f"{k} {v}" for k, v in sorted(total.injected.items()))
        verdict = "ok" if result.accepted and run.error is None else "NOT ACCEPTED"
        accepted &= verdict == "ok"
        print(f"{seed:>4} {total.replies:>8} {100 * faulty_reply_fraction(run.counts):>6.2f}% "
              f"{result.complete:>8} {result.failed_with_reason:>6} "
              f"{len(result.lost):>4} {sum(result.defect_mismatches.values()):>7} "
              f"{result.worst_deviation_sigmas:>5.1f}s {run.elapsed_s:>5.0f}s  {verdict}")
        print(f"       injected: {injected} (of {total.lines} lines, {total.connections} "
              f"connections, {total.acquisitions} acquisitions)")
        for name in result.lost:
            print(f"       lost {name}: {run.reasons[name][:110]}")
        if run.error:
            print(f"       sweep error: {run.error}")
        if not result.accepted:
            print(f"       {result}")
    print("(faulty: share of replies lost, late, garbled or an error code; lost: dies complete "
          "fault-free but failed under faults; defects: cells classified differently from the "
          "fault-free sweep; worst: largest |ln R ratio| of an ok cell, in read-noise sigmas)")
    return accepted


def kills(wafer_seed: int, count: int, directory: Path) -> bool:
    print(f"== kill -9: `labctl sweep --sim --seed {wafer_seed}` over 36 dies, {count} kills, "
          "--resume after each")
    (directory / "reference").mkdir()
    (directory / "killed").mkdir()
    reference_path = directory / "reference" / "wafer.h5"
    appeared_s, total_s = timed_reference(reference_path, wafer_seed, ALL_DIES, cycles=2)
    reference = complete_dies(reference_path)
    print(f"uninterrupted run: {total_s:.1f} s ({appeared_s:.1f} s until the file appears), "
          f"{len(reference)} dies complete")
    started = time.monotonic()
    report = kill_and_resume(
        directory / "killed" / "wafer.h5", reference, seed=wafer_seed, dies=ALL_DIES, cycles=2,
        kills=count, rng=np.random.default_rng(wafer_seed),
        # From late start-up to 3.5 average shares of the wafer later (a resumed run starts more
        # slowly): the kills fall at random moments spread over the whole wafer.
        min_delay_s=0.8 * appeared_s, max_delay_s=appeared_s + 3.5 * (total_s - appeared_s) / count,
    )
    print(f"kills: {report.kills} (delays {min(report.kill_delays_s):.2f} ... "
          f"{max(report.kill_delays_s):.2f} s after start), {report.mid_publish_kills} while a "
          "publish was in flight")
    print(f"complete dies after each kill: {report.complete_after_kill}")
    print(f"unreadable after a kill: {report.unreadable_after_kill}; complete dies changed: "
          f"{len(report.changed_data)}; measured again: {len(report.remeasured)}; "
          f"missing at the end: {len(report.missing)}; leftover files: {report.leftovers}")
    print(f"final --resume: exit {report.final_returncode}, file equal to the uninterrupted "
          f"run: {report.final_equal} (bit-identical maps and raw reads); "
          f"{time.monotonic() - started:.0f} s")
    print(f"verdict: {'ok' if report.accepted else 'NOT ACCEPTED'}")
    return report.accepted


def inputs(n: int, directory: Path) -> bool:
    print(f"== bad input: seeded random and mutated inputs (seed 0), {n} per text parser")
    rng = np.random.default_rng(0)
    tallies: list[Tally] = [
        fuzz_fault_spec(n, rng, SOAK_FAULTS),
        fuzz_station_file(n // 2, rng, directory),
        fuzz_die_selection(n, rng),
        fuzz_sweep_cli(n // 5, rng, directory),
    ]
    base = directory / "base" / "wafer.h5"
    base.parent.mkdir()
    sweep_in_process(base, 0, "die_03_00,die_04_00", None)
    variants = directory / "variants"
    variants.mkdir()
    tallies += fuzz_hdf5(n // 3, rng, base, variants)
    weights = directory / "weights"
    weights.mkdir()
    tallies.append(fuzz_weights(n // 3, rng, weights))
    tallies += fuzz_protocols(n, rng)
    clean = True
    for tally in tallies:
        print(tally.line())
        for crash in tally.crashes[:3]:
            print(f"    crash: {crash}")
        if tally.name == "weight files" and tally.crashes:
            print("    (labctl/training/weights_io.py: metadata of the wrong type escapes as "
                  "TypeError/ValueError; reported to the training owner)")
            continue
        clean &= not tally.crashes and not tally.partial_writes
    return clean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wafer-seed", type=int, default=0)
    parser.add_argument("--fault-seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--inputs", type=int, default=1000)
    parser.add_argument("--skip-soak", action="store_true")
    parser.add_argument("--skip-kill", action="store_true")
    parser.add_argument("--skip-inputs", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # thousands of expected retries; the figures say enough
    verdicts = {}
    with tempfile.TemporaryDirectory(prefix="labctl-reliability-") as name:
        directory = Path(name)
        if not args.skip_soak:
            (directory / "soak").mkdir()
            verdicts["soak"] = soak(args.wafer_seed, args.fault_seeds, directory / "soak")
        if not args.skip_kill:
            (directory / "kill").mkdir()
            verdicts["kill"] = kills(args.wafer_seed, args.kills, directory / "kill")
        if not args.skip_inputs:
            (directory / "inputs").mkdir()
            verdicts["inputs (labctl's own parsers)"] = inputs(args.inputs,
                                                               directory / "inputs")
    print("== verdicts: " + ", ".join(f"{k} {'ok' if v else 'FAILED'}"
                                      for k, v in verdicts.items()))


if __name__ == "__main__":
    main()

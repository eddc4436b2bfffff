"""`labctl sweep`: characterise the dies of a wafer into one resumable HDF5 file.

``labctl sweep (--sim [--seed N] [--faults SPEC] | --station FILE) --out WAFER.h5
[--dies all|die_03_00,...] [--resume] [--dry-run]`` plus the procedure's settings as options.
Progress goes to stderr, the summary to stdout, and everything to the log file WAFER.h5.log
beside the data.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.cli.station_source import add_station_options, fault_spec, simulator_seed
from labctl.core.errors import LabctlError

if TYPE_CHECKING:
    from labctl.sweep.plan import SweepPlan

#: Exit status of a sweep stopped by SIGINT / SIGTERM before its end (resume it later).
EXIT_STOPPED = 130


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="characterise wafer dies into a resumable HDF5 file",
        description="Step through the selected dies, contact, check, characterise every cell "
        "(R_P, R_AP, TMR, defect class) and record each die in WAFER.h5. Ctrl-C or SIGTERM "
        "stops cleanly after the current row; --resume finishes the file later.",
    )
    add_station_options(parser)
    parser.add_argument("--out", type=Path, required=True, metavar="WAFER.h5",
                        help="wafer file to create (or to finish with --resume)")
    parser.add_argument("--dies", default="all", metavar="all|die_03_00,...",
                        help="dies to measure, in wafer-map order (default: all 36)")
    parser.add_argument("--resume", action="store_true",
                        help="finish an existing file: skip complete dies, redo the rest")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan and its estimated duration on real instruments; "
                        "touch nothing")
    parser.add_argument("--wafer-id", default=None,
                        help="wafer identifier (default: sim-seed-N for --sim, else the file "
                        "name without extension)")

    settings = parser.add_argument_group("characterisation settings")
    settings.add_argument("--cycles", type=int, default=None,
                          help="write P / read / write AP / read cycles per tile (default 2)")
    settings.add_argument("--read-voltage", type=float, default=None, metavar="V",
                          help="read bias in V (default: the station's read_voltage_V)")
    settings.add_argument("--write-voltage", type=float, default=None, metavar="V",
                          help="write pulse amplitude in V (default: the station's)")
    settings.add_argument("--write-width", type=float, default=None, metavar="S",
                          help="write pulse width in s (default: the station's)")
    settings.add_argument("--nplc", type=float, default=None,
                          help="integration time per reading in power-line cycles (default 0.1)")
    settings.add_argument("--batching", choices=("tile", "row"), default=None,
                          help="read a whole tile or one row per acquisition (default tile)")

    robustness = parser.add_argument_group("robustness")
    robustness.add_argument("--retries", type=int, default=3, metavar="N",
                            help="attempts per instrument operation on timeouts and transient "
                            "VISA errors (default 3)")
    robustness.add_argument("--retry-backoff", type=float, default=0.5, metavar="S",
                            help="pause before the first retry, doubled for each further one "
                            "(default 0.5 s)")
    robustness.add_argument("--max-gate-leakage", type=float, default=1e-6, metavar="A",
                            help="fail a die whose word-line leakage exceeds this (default 1e-6)")
    robustness.add_argument("--checkpoint-interval", type=float, default=30.0, metavar="S",
                            help="publish a running die's partial data at most this often, for "
                            "live viewers (default 30 s)")
    robustness.add_argument("--max-consecutive-failures", type=int, default=3, metavar="N",
                            help="stop when N dies in a row fail on instrument errors (default 3)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so that `labctl --help` stays fast and quiet.
    from labctl.station.config import SIM_STATION_FILE, load_station_config
    from labctl.store.truth import truth_wafer_id
    from labctl.sweep.plan import make_plan, plan_text, settings_with_station_defaults

    _check_counts(args)
    args.seed = simulator_seed(args)  # --seed without --sim is refused
    fault_spec(args)  # a bad SPEC, or one without --sim, is refused before anything happens
    if args.sim:
        config = load_station_config(SIM_STATION_FILE)
        label = f"simulated station (seed {args.seed})"
        wafer_id = args.wafer_id or truth_wafer_id(args.seed)
    else:
        config = load_station_config(args.station)
        label = f"{config.name} ({args.station})"
        wafer_id = args.wafer_id or args.out.stem
    settings = settings_with_station_defaults(
        config.limits,
        cycles=args.cycles,
        read_voltage_V=args.read_voltage,
        write_voltage_V=args.write_voltage,
        write_width_s=args.write_width,
        nplc=args.nplc,
        batching=args.batching,
    )
    plan = make_plan(
        station_label=label,
        station_config=config,
        output=args.out,
        wafer_id=wafer_id,
        dies=args.dies,
        resume=args.resume,
        settings=settings,
    )
    if args.dry_run:
        print(plan_text(plan))
        return 0
    return _measure(plan, args)


def _measure(plan: SweepPlan, args: argparse.Namespace) -> int:
    from labctl.sweep.session import SweepOptions, run_sweep

    options = SweepOptions(
        retry_attempts=args.retries,
        retry_backoff_s=args.retry_backoff,
        max_gate_leakage_A=args.max_gate_leakage,
        checkpoint_interval_s=args.checkpoint_interval,
        max_consecutive_failures=args.max_consecutive_failures,
    )
    result = run_sweep(plan, options, sim_seed=args.seed if args.sim else None,
                       faults=fault_spec(args))
    print(result.summary.text())
    if not result.finished:
        print(f"sweep stopped before its end; finish it with: labctl sweep ... --out "
              f"{plan.output} --resume")
        return EXIT_STOPPED
    return 0


def _check_counts(args: argparse.Namespace) -> None:
    """Range checks of the options that are not characterisation settings."""
    if not 1 <= args.retries <= 10:
        raise LabctlError(f"--retries must be 1 ... 10, got {args.retries}")
    if not 0 <= args.retry_backoff <= 60:
        raise LabctlError(f"--retry-backoff must be 0 ... 60 s, got {args.retry_backoff:g}")
    if not args.max_gate_leakage > 0:
        raise LabctlError(f"--max-gate-leakage must be > 0 A, got {args.max_gate_leakage:g}")
    if not 0 <= args.checkpoint_interval <= 3600:
        raise LabctlError(f"--checkpoint-interval must be 0 ... 3600 s, got "
                          f"{args.checkpoint_interval:g}")
    if not 1 <= args.max_consecutive_failures <= 36:
        raise LabctlError(f"--max-consecutive-failures must be 1 ... 36, got "
                          f"{args.max_consecutive_failures}")
    if args.seed is not None and args.seed < 0:
        raise LabctlError(f"--seed must be >= 0, got {args.seed}")

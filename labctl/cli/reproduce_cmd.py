"""`labctl reproduce`: sweep (or reuse) a wafer, train the four modes, program and validate every
complete die, and write results.json / .csv / .md and per_die_error.png into DIR."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from labctl.cli.station_source import add_source_options
from labctl.core.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="the paper's experiment end to end: sweep, train, program, validate, report",
        description="Sweep the wafer (or reuse --wafer), train ideal, unaware, hardware-aware and "
        "statistics-aware binary networks, program each mode's weights onto every complete "
        "die with write-verify, validate from the read-back maps (and in situ for the "
        "statistics-aware weights), evaluate the statistics-aware weights on a second "
        "simulated wafer (--sim), and write the results into DIR.",
    )
    add_source_options(parser)
    parser.add_argument("--seed", type=int, default=0,
                        help="simulated wafer and training seed (default 0)")
    parser.add_argument("--holdout-seed", type=int, default=None,
                        help="seed of the held-out simulated wafer (default seed + 1; --sim only)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument("--wafer", type=Path, default=None, metavar="EXISTING.h5",
                        help="reuse this wafer file instead of sweeping (copied into DIR)")
    parser.add_argument("--in-situ-images", type=int, default=None, metavar="N",
                        help="test images classified in situ per die (default 200, --quick 40)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 6 dies swept, 2 programmed, short training (< 3 min)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from labctl.reproduce.options import ReproduceOptions
    from labctl.reproduce.report import write_reports
    from labctl.reproduce.run import run_reproduce
    from labctl.services.station_source import StationSource

    if args.holdout_seed is not None and not args.sim:
        raise ConfigError("--holdout-seed only applies with --sim")
    holdout = (args.seed + 1 if args.holdout_seed is None else args.holdout_seed) if args.sim \
        else None
    options = ReproduceOptions.preset(args.out, args.seed, args.quick, args.wafer, holdout)
    if args.in_situ_images is not None:
        options = replace(options, in_situ_images=args.in_situ_images)
    args.out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(args.out / "reproduce.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    # INFO and up into the log file; the console keeps only warnings (progress has its lines).
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    root = logging.getLogger("labctl")
    root.addHandler(handler)
    root.addHandler(console)
    previous = root.level, root.propagate
    root.setLevel(logging.INFO)
    root.propagate = False
    started = time.perf_counter()

    def progress(message: str) -> None:
        elapsed = time.perf_counter() - started
        print(f"[{elapsed:6.1f} s] {message}", file=sys.stderr, flush=True)
        logging.getLogger("labctl.reproduce").info("%s", message)

    try:
        source = (StationSource.simulator(args.seed) if args.sim
                  else StationSource.from_file(args.station))
        results = run_reproduce(options, source, progress)
        paths = write_reports(results, args.out)
    finally:
        root.removeHandler(handler)
        root.removeHandler(console)
        root.setLevel(previous[0])
        root.propagate = previous[1]
        handler.close()
    print((args.out / "results.md").read_text())
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0

"""`labctl reproduce`: sweep (or reuse) a wafer, train the four modes, program and validate every
complete die, and write results.json / .csv / .md and per_die_error.png into DIR."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from labctl.cli.commands import add_command
from labctl.cli.options import add_out_option, add_seed_option, count, seed, sim_seed_from
from labctl.cli.station_source import add_source_options, simulator_source
from labctl.core.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "reproduce",
        description="Sweep the wafer (or reuse --wafer), train ideal, unaware, statistics-aware "
        "(the paper's protocol: one weight set, fixed mapping), statistics-aware-routed (one "
        "weight set plus per-die row repair) and hardware-aware binary networks, program each "
        "mode's weights onto every complete die with write-verify, validate from the read-back "
        "maps and in situ (every mode, on the die itself), evaluate the statistics-aware "
        "weights on a second simulated wafer (--sim), and write the results into DIR.",
    )
    add_source_options(parser)
    add_seed_option(parser, "simulated wafer and training seed (default: with --wafer and "
                    "--sim, the wafer the file measured; else 0)")
    parser.add_argument("--holdout-seed", type=seed, default=None, metavar="N",
                        help="seed of the held-out simulated wafer (default seed + 1; --sim only)")
    add_out_option(parser, "dir", "output folder: results.{json,csv,md}, figure, reproduce.log")
    parser.add_argument("--wafer", type=Path, default=None, metavar="FILE",
                        help="reuse this existing wafer file instead of sweeping (copied into "
                        "DIR)")
    parser.add_argument("--in-situ-images", type=count, default=None, metavar="N",
                        help="test images classified in situ per die and mode (default 1000, "
                        "--quick 100)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 6 dies swept, 2 programmed, short training (< 3 min)")
    parser.set_defaults(func=run, _wafer_required=False)
    sim_seed_from(parser, "wafer")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from labctl.reproduce.options import ReproduceOptions
    from labctl.reproduce.report import write_reports
    from labctl.reproduce.run import run_reproduce
    from labctl.services.console import PLAIN_FORMAT, Steps
    from labctl.services.station_source import StationSource

    if args.holdout_seed is not None and not args.sim:
        raise ConfigError("--holdout-seed only applies with --sim")
    if args.sim_params is not None and not args.sim:
        raise ConfigError("--sim-params only applies with --sim")
    seed_value = 0 if args.seed is None else args.seed
    holdout = (seed_value + 1 if args.holdout_seed is None else args.holdout_seed) if args.sim \
        else None
    options = ReproduceOptions.preset(args.out, seed_value, args.quick, args.wafer, holdout)
    if args.in_situ_images is not None:
        options = replace(options, in_situ_images=args.in_situ_images)
    args.out.mkdir(parents=True, exist_ok=True)
    # INFO and up into the log file; the console keeps warnings (progress shows the steps).
    handler = logging.FileHandler(args.out / "reproduce.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("labctl")
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.INFO)
    step_log = logging.getLogger("labctl.reproduce")
    try:
        with Steps() as steps:

            def progress(message: str) -> None:
                steps.step(message)
                step_log.info("%s", message)

            source = (simulator_source(args, seed_value) if args.sim
                      else StationSource.from_file(args.station))
            results = run_reproduce(options, source, progress)
            progress("writing the reports")
            paths = write_reports(results, args.out)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        handler.close()
    print((args.out / "results.md").read_text())
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0

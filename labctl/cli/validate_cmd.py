"""`labctl validate`: a programmed die's MNIST error from its read-back map (all 10 000 test
images, as the paper computed it) and by in-situ analog inference on the die, and their
agreement."""

from __future__ import annotations

import argparse
import json
from typing import Any

from labctl.cli.commands import add_command
from labctl.cli.options import count
from labctl.cli.program_cmd import add_target_options, check_sim_seed
from labctl.cli.station_source import add_station_options, station_source
from labctl.services.console import format_percent


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "validate",
        description="(a) Test error on the 10 000 MNIST test images from the read-back map that "
        "`labctl program` stored for the die; (b) the first N test images classified by analog "
        "inference on the die itself (rows driven, bit-line currents read, activations applied, "
        "layer 2 fed); the agreement of (a) and (b) on those images.",
    )
    add_station_options(parser)
    add_target_options(parser)
    parser.add_argument("--in-situ-images", type=count, default=200, metavar="N",
                        help="test images classified on the die (default 200; 0: only (a))")
    parser.add_argument("--run", default=None, help="programmed run (default: the latest)")
    parser.add_argument("--restore", action="store_true",
                        help="write the run's pattern again if the die no longer holds it "
                        "(always on with --sim: a fresh simulator forgets earlier writes)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (errors as fractions)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from labctl.hardware.service import (
        data_for,
        die_maps,
        selected_dies,
        validate_programmed,
        weight_set_for,
    )
    from labctl.services.console import Steps
    from labctl.services.station_session import station_session
    from labctl.store.programmed import read_programmed_run

    source = station_source(args)
    dies = selected_dies(args.wafer, args.die)
    weights = {die: weight_set_for(args.weights, die) for die in dies}
    for die in dies:  # every die must have a run before any instrument is touched
        read_programmed_run(args.wafer, die, args.run)
    check_sim_seed(source, args.wafer)
    data = data_for(next(iter(weights.values())))
    results: list[dict[str, Any]] = []
    with station_session(source, "validate") as station, Steps() as steps:
        for i, die in enumerate(dies):
            steps.step(f"[{i + 1}/{len(dies)}] validating {die}")
            result = validate_programmed(
                station, args.wafer, weights[die], die_maps(args.wafer, die), data,
                in_situ_images=args.in_situ_images, run_name=args.run,
                restore=args.restore or source.simulated, progress=steps.step,
            )
            results.append(result.to_dict())
    if args.json:
        print(json.dumps({"wafer": str(args.wafer), "dies": results}, indent=2))
    else:
        print(format_results(results))
    return 0


def format_results(results: list[dict[str, Any]]) -> str:
    p = format_percent
    lines = [f"{'die':<10} {'run':<9} {'mode':<17} {'error (a)':>9} {'n in situ':>9} "
             f"{'(a) subset':>10} {'(b) in situ':>11} {'agree':>7}"]
    for r in results:
        if r["in_situ_images"]:
            tail = (f"{r['in_situ_images']:>9} {p(r['emulated_error_subset']):>10} "
                    f"{p(r['in_situ_error']):>11} {p(r['agreement'], 1):>7}")
        else:
            tail = f"{0:>9}"
        lines.append(f"{r['die']:<10} {r['run']:<9} {r['mode']:<17} "
                     f"{p(r['emulated_error']):>9} {tail}")
    return "\n".join(lines)

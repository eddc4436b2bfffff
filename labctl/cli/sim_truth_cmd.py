"""`labctl sim truth --seed N --out truth.h5`: the virtual wafer's ground truth, for scoring."""

from __future__ import annotations

import argparse
from pathlib import Path

from labctl.cli.options import add_out_option, add_seed_option


def register(sim_subparsers: argparse._SubParsersAction) -> None:
    parser = sim_subparsers.add_parser(
        "truth",
        help="write the simulator's ground truth as a wafer file",
        description="Write every die's true R_P, R_AP, TMR and defect map of the virtual wafer "
        "with this seed, in the layout of a sweep's wafer file (docs/hdf5-format.md), so a "
        "sweep can be scored against it.",
    )
    add_seed_option(parser, "virtual wafer seed (default 0)", default=0)
    add_out_option(parser, "file", "wafer file (.h5) to write")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output")
    parser.add_argument("--sim-params", type=Path, default=None, metavar="FILE",
                        help="simulator parameters (TOML, data/sim-params/example.toml)")
    parser.set_defaults(func=write_truth)


def write_truth(args: argparse.Namespace) -> int:
    from labctl.sim.params_file import load_sim_params
    from labctl.sim.wafer import VirtualWafer
    from labctl.store.truth import write_truth_file

    params = load_sim_params(args.sim_params) if args.sim_params is not None else None
    path = write_truth_file(VirtualWafer(args.seed, params), args.out, overwrite=args.force)
    print(f"ground truth of simulated wafer seed {args.seed} written to {path}")
    return 0

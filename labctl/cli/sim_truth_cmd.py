"""`labctl sim truth --seed N --out truth.h5`: the virtual wafer's ground truth, for scoring."""

from __future__ import annotations

import argparse
from pathlib import Path

from labctl.core.errors import LabctlError


def register(sim_subparsers: argparse._SubParsersAction) -> None:
    parser = sim_subparsers.add_parser(
        "truth",
        help="write the simulator's ground truth as a wafer file",
        description="Write every die's true R_P, R_AP, TMR and defect map of the virtual wafer "
        "with this seed, in the layout of a sweep's wafer file (docs/hdf5-format.md), so a "
        "sweep can be scored against it.",
    )
    parser.add_argument("--seed", type=int, default=0, help="virtual wafer seed (default 0)")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="output .h5 file")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output")
    parser.set_defaults(func=write_truth)


def write_truth(args: argparse.Namespace) -> int:
    from labctl.sim.wafer import VirtualWafer
    from labctl.store.truth import write_truth_file

    if args.seed < 0:
        raise LabctlError(f"--seed must be a non-negative integer, got {args.seed}")
    path = write_truth_file(VirtualWafer(args.seed), args.out, overwrite=args.force)
    print(f"ground truth of simulated wafer seed {args.seed} written to {path}")
    return 0

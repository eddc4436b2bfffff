"""`labctl gui [--sim [--seed N] | --station FILE] [WAFER.h5]`: the operator window.

With a station the window can sweep; with only a wafer file it opens it read-only for review.
The wafer file is checked here first, so a wrong path or format is a one-line error rather than
an empty window. Qt is imported only when the command runs (``labctl --help`` stays fast).
"""

from __future__ import annotations

import argparse
import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from labctl.cli.station_source import (
    add_station_options,
    optional_station_source,
    station_cli_args,
)
from labctl.station.config import StationConfig
from labctl.store import open_wafer


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gui",
        help="open the operator window (sweeps, live view, review, training)",
        description="Open the probe-station window. With --sim or --station it controls the "
        "station (sweeps, instruments, reproduce runs); with only WAFER.h5 it opens that file "
        "read-only for review.",
    )
    add_station_options(parser, required=False)
    parser.add_argument("wafer", nargs="?", type=Path, metavar="WAFER.h5",
                        help="wafer file to show (review, or to resume)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = optional_station_source(args)  # refuses --seed without --sim before anything starts
    if args.wafer is not None:
        with open_wafer(args.wafer):  # LabctlError / DataFormatError: one line, exit 2
            pass
    opened: AbstractContextManager[StationConfig | None] = (
        source.open() if source is not None else nullcontext(None)
    )
    with opened as config:
        from gui.app import run_app  # Qt only when the window opens

        return run_app(config, args.wafer, station_cli_args(source), [sys.argv[0]],
                       source=source)

"""Every `labctl` sub-command: its name, the module that registers it, and its one-line help.

This table is all that ``labctl --help`` needs, so the top-level help imports no command module
(and none of PyMeasure, pandas, h5py, numpy, torch or Qt); the command that runs imports only its
own module (:func:`labctl.cli.parser.build_parser`).
"""

from __future__ import annotations

import argparse
from typing import Any, NamedTuple


class Command(NamedTuple):
    module: str
    help: str


#: In the order ``labctl --help`` lists them (a lab day's order).
COMMANDS: dict[str, Command] = {
    "sim": Command("labctl.cli.sim_cmd",
                   "simulated probe station (virtual wafer and emulated instruments)"),
    "station": Command("labctl.cli.station_cmd", "probe-station set-up and checks"),
    "tour": Command("labctl.cli.tour_cmd",
                    "step to one die, write and read a tile, print a summary"),
    "sweep": Command("labctl.cli.sweep_cmd", "characterise wafer dies into a resumable HDF5 file"),
    "inspect": Command("labctl.cli.inspect_cmd", "print a wafer file's per-die summary"),
    "report": Command("labctl.cli.report_cmd",
                      "write wafer-map and per-die PNG figures of a wafer file"),
    "gui": Command("labctl.cli.gui_cmd",
                   "open the operator window (sweeps, live view, review, training)"),
    "train": Command("labctl.cli.train_cmd",
                     "train binary networks for the dies of a wafer file"),
    "evaluate": Command("labctl.cli.train_cmd",
                        "test error of weights on the dies of a wafer file"),
    "program": Command("labctl.cli.program_cmd",
                       "write trained weights onto dies with write-verify"),
    "validate": Command("labctl.cli.validate_cmd",
                        "error of programmed dies: emulated from the read-back map and in situ"),
    "reproduce": Command("labctl.cli.reproduce_cmd",
                         "the paper's experiment end to end: sweep, train, program, validate, "
                         "report"),
    "study": Command("labctl.cli.study_cmd",
                     "design-space studies: a grid of wafers and training settings on Dask"),
}


def add_command(subparsers: argparse._SubParsersAction, name: str,
                **kwargs: Any) -> argparse.ArgumentParser:
    """``subparsers.add_parser(name)`` with the help line of :data:`COMMANDS` (said once)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=COMMANDS[name].help,
                                                            **kwargs)
    return parser

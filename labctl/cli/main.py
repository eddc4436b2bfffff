"""Entry point of the `labctl` console script.

Each sub-command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a handler ``(args) -> int``. Handlers raise :class:`LabctlError` for anything the user
can fix; it is printed as one line and the exit status is 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from labctl import __version__
from labctl.core.errors import LabctlError

#: Sub-command modules, imported lazily so that `labctl --help` stays fast. A module that
#: does not exist yet (work in progress) is skipped.
COMMAND_MODULES = (
    "labctl.cli.sim_cmd",
    "labctl.cli.station_cmd",
    "labctl.cli.tour_cmd",
    "labctl.cli.program_cmd",
    "labctl.cli.validate_cmd",
    "labctl.cli.reproduce_cmd",
    "labctl.cli.sweep_cmd",
    "labctl.cli.inspect_cmd",
    "labctl.cli.report_cmd",
    "labctl.cli.train_cmd",
    "labctl.cli.gui_cmd",
    "labctl.cli.study_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labctl",
        description="Probe-station control, MTJ die characterisation and hardware-aware training.",
    )
    parser.add_argument("--version", action="version", version=f"labctl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # PyMeasure warns about its optional extras (ZMQ) on import
        logging.getLogger("pymeasure").setLevel(logging.ERROR)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except LabctlError as exc:
        message = " ".join(str(exc).split("\n")) or type(exc).__name__
        print(f"labctl: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("labctl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

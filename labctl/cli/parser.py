"""labctl's argument parser: global options accepted before or after the command, usage errors
as one line, and only the command being run imported.

``labctl --help`` is answered from :data:`labctl.cli.commands.COMMANDS` alone; ``labctl sweep
...`` imports ``labctl.cli.sweep_cmd`` and no other command module.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from labctl import __version__
from labctl.cli.commands import COMMANDS

#: Global options that take a value (so the value is not taken for the command's name).
_GLOBAL_VALUE_OPTIONS = ("--log-file",)


class UsageError(Exception):
    """A command line argparse refused; printed as one line by :func:`labctl.cli.main.main`."""


class LabctlParser(argparse.ArgumentParser):
    """An ArgumentParser whose every (sub-)parser accepts the global options, and whose usage
    errors are raised (one line, exit 2 in ``main``) instead of printing the usage block."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        add_global_options(self)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def add_global_options(parser: argparse.ArgumentParser) -> None:
    """-v/--verbose and --log-file FILE; their default is SUPPRESS so that a sub-command's
    parser only sets what was given after the command (``main`` supplies the defaults)."""
    group = parser.add_argument_group("global options (before or after the command)")
    group.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="show debug log messages on the console")
    group.add_argument("--log-file", type=Path, metavar="FILE", default=argparse.SUPPRESS,
                       help="also write every log message (debug level) to FILE")


def command_name(argv: Sequence[str]) -> str | None:
    """The sub-command named by ``argv`` (the first word that is not a global option)."""
    words = iter(argv)
    for word in words:
        if word in _GLOBAL_VALUE_OPTIONS:
            next(words, None)
        elif word == "--":
            return None
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(argv: Sequence[str] = (), *, every_command: bool = False) -> LabctlParser:
    """The parser for ``argv``: the chosen command's module registers its parser(s); the others
    are listed with their help line only (all of them registered with ``every_command``)."""
    parser = LabctlParser(
        prog="labctl",
        allow_abbrev=False,  # `--log x.log` would hide the command from command_name()
        description="Probe-station control, MTJ die characterisation and hardware-aware "
        "training. Conventions shared by every command: docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"labctl {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = command_name(argv)
    chosen_module = COMMANDS[chosen].module if chosen is not None else None
    for name, command in COMMANDS.items():
        if name in subparsers.choices:
            continue  # registered by a module that registers several commands
        if every_command or command.module == chosen_module:
            importlib.import_module(command.module).register(subparsers)
            if name not in subparsers.choices:
                raise RuntimeError(f"{command.module} did not register {name!r}")
        else:
            subparsers.add_parser(name, help=command.help)
    return parser

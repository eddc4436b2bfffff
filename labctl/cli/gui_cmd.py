"""`labctl gui [--sim [--seed N] | --station FILE] [--wafer FILE]`: the operator window.

With a station the window can sweep; with only a wafer file it opens it read-only for review.
The wafer file and the display are checked here first, so a wrong path or a session without a
display is a one-line error rather than an empty window or Qt's abort (a core dump). Qt is
imported only when the window opens (``labctl --help`` stays fast).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from labctl.cli.commands import add_command
from labctl.cli.options import add_wafer_option, sim_seed_from
from labctl.cli.station_source import (
    add_station_options,
    optional_station_source,
    station_cli_args,
)
from labctl.core.errors import ConfigError

if TYPE_CHECKING:
    from labctl.station.config import StationConfig

#: Qt platform plugins that need no display server.
HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "linuxfb", "eglfs", "vkkhrdisplay")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "gui",
        description="Open the probe-station window. With --sim or --station it controls the "
        "station (sweeps, instruments, reproduce runs); with only --wafer FILE it opens that "
        "file read-only for review.",
    )
    add_station_options(parser, required=False)
    add_wafer_option(parser, required=False, positional_alias=True,
                     help="wafer file to show (review, or to resume)")
    sim_seed_from(parser, "wafer")
    parser.set_defaults(func=run)


def display_problem(env: Mapping[str, str] = os.environ,
                    platform: str = sys.platform) -> str | None:
    """Why Qt could not open a window here (None: it can). On Linux and the BSDs a window needs
    an X11 or Wayland display, unless Qt is told to draw without one (QT_QPA_PLATFORM)."""
    if platform.startswith(("win", "darwin")):
        return None
    plugin = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip()
    if plugin in HEADLESS_PLATFORMS:
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return ("no display to open the window on (DISPLAY and WAYLAND_DISPLAY are unset): run "
            "it in a desktop session or over 'ssh -X', or set QT_QPA_PLATFORM=offscreen to "
            "run it without showing a window")


def run(args: argparse.Namespace) -> int:
    source = optional_station_source(args)  # refuses --seed without --sim before anything starts
    problem = display_problem()
    if problem is not None:
        raise ConfigError(problem)
    if args.wafer is not None:
        from labctl.store import open_wafer

        with open_wafer(args.wafer):  # LabctlError / DataFormatError: one line, exit 2
            pass
    opened: AbstractContextManager[StationConfig | None] = (
        source.open() if source is not None else nullcontext(None)
    )
    with opened as config:
        from gui.app import run_app  # Qt only when the window opens

        return run_app(config, args.wafer, station_cli_args(source), [sys.argv[0]],
                       source=source)

"""`labctl sweep`: characterise the dies of a wafer into one resumable HDF5 file.

``labctl sweep (--sim [--seed N] [--faults SPEC] | --station FILE) --out FILE
[--dies all|die_03_00,...] [--resume] [--dry-run]`` plus one option per sweep setting, generated
from the sweep procedure's Parameters (labctl.services.sweep.spec). Progress goes to stderr, the
summary to stdout, and everything to the log file WAFER.h5.log beside the data.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from labctl.cli.commands import add_command
from labctl.cli.options import add_out_option, sim_seed_from
from labctl.cli.station_source import add_station_options, station_source
from labctl.services.sweep.spec import SweepSetting, SweepSpec, sweep_spec

#: Exit status of a sweep stopped by SIGINT / SIGTERM before its end (resume it later).
EXIT_STOPPED = 130
#: Older spellings of generated options, still accepted.
FLAG_ALIASES: dict[str, tuple[str, ...]] = {"retry_attempts": ("--retries",)}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "sweep",
        description="Step through the selected dies, contact, check, characterise every cell "
        "(R_P, R_AP, TMR, defect class) and record each die in the wafer file FILE. Ctrl-C or "
        "SIGTERM stops cleanly after the current row; --resume finishes the file later.",
    )
    add_station_options(parser)
    add_out_option(parser, "file", "wafer file to create (or to finish with --resume); its "
                   "log is written beside it, FILE.log")
    sim_seed_from(parser, "out")  # --resume --sim: the wafer the file measured
    parser.add_argument("--dies", default=None, metavar="all|die_03_00,...",
                        help="dies to measure, in wafer-map order (default: all 36; with "
                        "--resume, the file's own selection)")
    parser.add_argument("--resume", action="store_true",
                        help="finish an existing file with its settings: skip complete dies, "
                        "redo the rest")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan and its estimated duration on real instruments; "
                        "touch nothing")
    add_setting_options(parser, sweep_spec())
    parser.set_defaults(func=run)


def flag(setting: SweepSetting) -> str:
    return "--" + setting.name.replace("_", "-")


def add_setting_options(parser: argparse.ArgumentParser, spec: SweepSpec) -> None:
    """One option per setting of ``spec`` (default None: the service decides, so a resume can
    keep the file's settings and a read bias can default to the station's)."""
    groups = {
        True: parser.add_argument_group("characterisation settings (what is measured)"),
        False: parser.add_argument_group("run settings"),
    }
    for setting in spec:
        options: dict[str, Any] = {"dest": setting.name, "default": None,
                                   "help": _help(setting)}
        if setting.kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = setting.kind
            if setting.choices is not None:
                options["choices"] = setting.choices
            elif setting.units:
                options["metavar"] = setting.units.upper()
            elif setting.kind is int:
                options["metavar"] = "N"
        names = (flag(setting), *FLAG_ALIASES.get(setting.name, ()))
        groups[setting.measured].add_argument(*names, **options)


def _help(setting: SweepSetting) -> str:
    if setting.station_default:
        return f"{setting.description} (default: the station's {setting.field})"
    default = setting.default
    if default is None or default == "":
        return setting.description
    if isinstance(default, float):
        shown = f"{default:g}" + (f" {setting.units}" if setting.units else "")
    else:
        shown = str(default)
    return f"{setting.description} (default {shown})"


def given_values(args: argparse.Namespace, spec: SweepSpec) -> dict[str, Any]:
    """The settings given on the command line (the others take the service's defaults)."""
    return {s.name: getattr(args, s.name) for s in spec if getattr(args, s.name) is not None}


def run(args: argparse.Namespace) -> int:
    # Imported here so that `labctl --help` stays fast and quiet.
    from labctl.services.sweep.plan import SweepRequest, plan_text
    from labctl.services.sweep.service import SweepService

    service = SweepService(station_source(args))
    request = SweepRequest(args.out, args.dies, given_values(args, service.spec), args.resume)
    plan = service.plan(request)
    if args.dry_run:
        print(plan_text(plan))
        return 0
    result = service.run(plan, progress_stream=sys.stderr, handle_signals=True)
    print(result.summary.text())
    if not result.finished:
        print(f"sweep stopped before its end; finish it with: labctl sweep ... --out "
              f"{plan.output} --resume")
        return EXIT_STOPPED
    return 0

"""`labctl inspect --wafer FILE [--json]`: per-die status, yield, defect counts and medians."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from labctl.cli.commands import add_command
from labctl.cli.options import add_wafer_option

if TYPE_CHECKING:
    from labctl.reports.summary import DieSummary, WaferSummary


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "inspect",
        description="Print each die's status, yield, defect counts and median R_P, R_AP, TMR. "
        "The file may be read while a sweep is still writing it.",
    )
    add_wafer_option(parser, positional_alias=True)
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object (stable schema) instead"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from labctl.reports.summary import summarize_wafer
    from labctl.store.reader import open_wafer

    with open_wafer(args.wafer) as reader:
        summary = summarize_wafer(reader)
    if args.json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        print(format_summary(summary))
    return 0


def format_summary(summary: WaferSummary) -> str:
    """Human-readable table: a header line, status counts, one line per die."""
    from labctl.reports.summary import DEFECT_NAMES
    from labctl.store.layout import DieStatus

    counts = ", ".join(
        f"{summary.count(status)} {status.value}" for status in DieStatus if summary.count(status)
    )
    lines = [
        f"wafer {summary.wafer_id} ({summary.kind}, labctl_format {summary.labctl_format}, "
        f"created {summary.created}, labctl {summary.software_version})",
        f"{len(summary.dies)} dies: {counts or 'none'}",
        "",
        f"{'die':<10} {'status':<9} {'yield':>8} "
        + " ".join(f"{name:>8}" for name in DEFECT_NAMES)
        + f" {'R_P':>10} {'R_AP':>10} {'TMR':>7}",
    ]
    lines += [_die_line(die) for die in summary.dies.values()]
    return "\n".join(lines)


def _die_line(die: DieSummary) -> str:
    from labctl.reports.summary import DEFECT_NAMES

    head = f"{die.name:<10} {die.status.value:<9}"
    s = die.stats
    if s is None:
        reason = f"  {die.failure_reason}" if die.failure_reason else ""
        return f"{head} {'-':>8}{reason}"
    counts = " ".join(f"{s.defects[name]:>8d}" for name in DEFECT_NAMES)
    return (
        f"{head} {100 * s.yield_fraction:>7.2f}% {counts} "
        f"{_ohm(s.median_r_parallel_ohm):>10} {_ohm(s.median_r_antiparallel_ohm):>10} "
        f"{_percent(s.median_tmr):>7}"
    )


def _ohm(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.2f} Mohm"
    if value >= 1e3:
        return f"{value / 1e3:.2f} kohm"
    return f"{value:.0f} ohm"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"

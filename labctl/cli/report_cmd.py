"""`labctl report --wafer FILE --out DIR`: wafer-map PNG, per-die heatmaps and histograms,
summary.

Writes DIR/wafer_map.png, DIR/<die>.png for every complete die (or the --dies given) and
DIR/summary.json (the `labctl inspect --json` object). The wafer file is validated before DIR is
created, so bad input leaves nothing behind; drawing shows progress die by die.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from labctl.cli.commands import add_command
from labctl.cli.options import add_out_option, add_wafer_option
from labctl.core.errors import LabctlError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "report",
        description="Write DIR/wafer_map.png (yield per die), DIR/<die>.png (R_P, R_AP and "
        "defect heatmaps per tile, resistance and TMR histograms) and DIR/summary.json.",
    )
    add_wafer_option(parser, positional_alias=True)
    add_out_option(parser, "dir", "output folder (created if needed)")
    parser.add_argument(
        "--dies",
        default=None,
        metavar="LIST",
        help="comma-separated dies to draw (default: every complete die)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from labctl.reports.plots import save_die_figure, save_wafer_map  # matplotlib: slow
    from labctl.reports.summary import summarize_wafer
    from labctl.services.console import Steps
    from labctl.store.reader import open_wafer

    out: Path = args.out
    with open_wafer(args.wafer) as reader, Steps() as steps:
        steps.step(f"reading {args.wafer}")
        summary = summarize_wafer(reader)
        selected = _selected_dies(args.dies, reader.dies)
        _prepare_output(out)
        steps.step("drawing the wafer map")
        save_wafer_map(summary, out / "wafer_map.png")
        steps.bar("drawing die figures", len(selected))
        for name in selected:
            save_die_figure(summary.dies[name], reader.tiles(name), out / f"{name}.png")
            steps.advance(name)
    (out / "summary.json").write_text(json.dumps(summary.to_json(), indent=2) + "\n")
    print(f"wrote {out / 'wafer_map.png'}, {len(selected)} die figure(s), summary.json")
    return 0


def _selected_dies(spec: str | None, dies: dict) -> list[str]:
    from labctl.store.layout import DieStatus
    from labctl.store.wafer_file import resolve_die_selection

    complete = [n for n, rec in dies.items() if rec.status is DieStatus.COMPLETE]
    if spec is None:
        return complete
    names = resolve_die_selection(spec)
    not_complete = [n for n in names if n not in complete]
    if not_complete:
        raise LabctlError(f"no complete data for {', '.join(not_complete)} in this file")
    return names


def _prepare_output(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LabctlError(f"cannot create {out}: {exc.strerror or exc}") from exc

"""`labctl study run` and `labctl study report`: design-space studies on Dask (docs/study.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from labctl.cli.commands import add_command
from labctl.cli.options import add_out_option, positive
from labctl.core.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    study = add_command(
        subparsers, "study",
        description="Run a grid of study points on Dask distributed, and report on them.",
    )
    commands = study.add_subparsers(dest="study_command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="compute the grid's points not yet in DIR",
        description=(
            "Make each point's wafer (the simulator's truth maps, or with --measured a sweep "
            "through the emulated instruments), train its modes, evaluate them, and append one "
            "row per point to DIR/results.csv as it finishes. Points already in DIR are "
            "skipped; failed ones are retried."
        ),
    )
    run.add_argument("--grid", required=True, type=Path, help="grid file (TOML, docs/study.md)")
    add_out_option(run, "dir", "results folder (created if needed; points already there are "
                   "skipped)")
    run.add_argument(
        "--scheduler", help="address of a running Dask scheduler, e.g. tcp://host:8786"
    )
    run.add_argument(
        "--workers",
        type=positive,
        default=2,
        help="worker processes of the local cluster, one thread each (default 2; 1 = serial "
        "in this process); ignored with --scheduler",
    )
    run.add_argument(
        "--quick", action="store_true", help="the quick training preset (tests, smoke runs)"
    )
    run.add_argument(
        "--measured",
        action="store_true",
        help="sweep each wafer through the emulated instruments instead of the truth maps",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(func=run_study_cmd)

    report = commands.add_parser(
        "report",
        help="table and figures of a study folder",
        description=(
            "Print each design point's gap to the baseline (mean and 95 % t-interval over the "
            "seeds) and draw DIR/report/phase_diagram.png and gap_vs_<axis>.png."
        ),
    )
    report.add_argument("dir", type=Path, help="results folder of `labctl study run`")
    report.add_argument("--x", help="phase diagram x axis (default: the first design axis)")
    report.add_argument("--y", help="phase diagram y axis (default: the second design axis)")
    report.add_argument("--along", help="axis of the gap-vs-axis figure (default: --x)")
    report.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="AXIS=VALUE",
        help="fix an axis to one value (repeatable)",
    )
    report.add_argument(
        "--threshold", type=float, default=2.0, help="gap (points) framed in the phase diagram"
    )
    report.set_defaults(func=run_report_cmd)
    study.set_defaults(func=lambda args: _help(study))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_study_cmd(args: argparse.Namespace) -> int:
    from labctl.study.grid import load_grid
    from labctl.study.runner import run_study
    from labctl.study.wafer import MEASURED_SOURCE, TRUTH_SOURCE

    grid = load_grid(args.grid, quick=args.quick, measured=args.measured)
    points = grid.points()
    where = args.scheduler or (
        "this process (serial)" if args.workers == 1 else f"a local cluster of {args.workers} "
        "workers x 1 thread"
    )
    print(f"study {grid.name}: {len(points)} points, modes {', '.join(grid.all_modes())}, "
          f"preset {grid.preset}, on {where}")
    print(f"maps: {MEASURED_SOURCE if grid.measured else TRUTH_SOURCE}")
    outcome = run_study(
        grid,
        args.out,
        workers=args.workers,
        scheduler=args.scheduler,
        show_progress=not args.no_progress,
    )
    print(
        f"{outcome.ran} point(s) computed ({outcome.failed} failed), {outcome.skipped} already "
        f"in {args.out}, {outcome.wall_s:.1f} s; table {args.out / 'results.csv'}"
    )
    return 1 if outcome.failed else 0


def run_report_cmd(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from labctl.study.report import (
        REPORT_DIR,
        gap_vs_axis,
        load_results,
        phase_diagram,
        seed_summary,
        select,
        summary_markdown,
    )

    results = load_results(args.dir)
    where = {}
    for item in args.where:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--where takes AXIS=VALUE, got {item!r}")
        where[name.strip()] = value.strip()
    results = select(results, where)
    failed = int((results.table["status"] != "ok").sum())
    summary = seed_summary(results)
    out = args.dir / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "summary.csv", index=False)
    (out / "summary.md").write_text(summary_markdown(results, summary))

    table = Table(title=f"{results.metadata.get('name', args.dir)}: gap to baseline (points), "
                  "mean ± 95 % t-interval over seeds")
    axes = [a for a in results.design_axes if a in summary.columns]
    for column in [*axes, "n", "baseline %", *results.modes]:
        table.add_column(column, justify="right")
    markdown_rows = summary_markdown(results, summary).splitlines()[2:]
    for line in markdown_rows:
        table.add_row(*[c.strip() for c in line.strip("|").split("|")])
    console = Console()
    if not console.is_terminal:  # a file or pipe: no reason to squeeze the table
        console = Console(width=200)
    console.print(table)
    console.print(f"maps: {results.metadata.get('map_source', 'unknown')}; "
                  f"{len(results.ok)} point(s) ok, {failed} failed")

    design = results.design_axes
    x = args.x or (design[0] if design else None)
    y = args.y or (next((a for a in design if a != results.axis(x)), None) if x else None)
    if x and y:
        path = phase_diagram(results, x, y, out / "phase_diagram.png", args.threshold)
        console.print(f"phase diagram: {path}")
    along = args.along or x
    if along:
        name = results.axis(along).replace(".", "_")
        path = gap_vs_axis(results, along, out / f"gap_vs_{name}.png", args.threshold)
        console.print(f"gap vs {along}: {path}")
    console.print(f"tables: {out / 'summary.csv'}, {out / 'summary.md'}")
    return 0

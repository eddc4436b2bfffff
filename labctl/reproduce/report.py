"""The reproduce run's files: results.json (stable contract), results.csv, results.md and
per_die_error.png, all from the results dictionary (nothing typed in)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from labctl.reproduce.options import DEPLOYED_MODES

RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
RESULTS_MD = "results.md"
FIGURE = "per_die_error.png"


def write_reports(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write every report file into `out_dir` (JSON last-renamed, so it is never half written)."""
    paths = [
        _write_json(results, out_dir / RESULTS_JSON),
        _write_csv(results, out_dir / RESULTS_CSV),
        _write_markdown(results, out_dir / RESULTS_MD),
        _write_figure(results, out_dir / FIGURE),
    ]
    return paths


def _write_json(results: dict[str, Any], path: Path) -> Path:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def _write_csv(results: dict[str, Any], path: Path) -> Path:
    """One row per (wafer, mode, die): test error from the read-back map, as a fraction."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["wafer", "seed", "mode", "die", "error"])
        writer.writerow([results["wafer"], results["seed"], "ideal", "", results["baseline_error"]])
        for mode in DEPLOYED_MODES:
            for die, error in results["modes"][mode]["per_die"].items():
                writer.writerow([results["wafer"], results["seed"], mode, die, error])
        holdout = results.get("holdout")
        if holdout:
            for die, error in holdout["per_die"].items():
                writer.writerow([holdout["wafer"], holdout["seed"], "statistics-aware", die, error])
    return path


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _write_markdown(results: dict[str, Any], path: Path) -> Path:
    modes = results["modes"]
    baseline = results["baseline_error"]
    situ = results["in_situ"]["per_die"]
    lines = [
        "# labctl reproduce: MNIST test error per die (%)",
        "",
        f"Wafer `{results['wafer']}` (seed {results['seed']}); software baseline (ideal) "
        f"**{_pct(baseline)} %**. Errors of each mode come from the read-back map of the die "
        f"after programming (all {results.get('test_images')} test images); in situ: the "
        f"{results['in_situ']['mode']} weights classified on the die itself.",
        "",
        "| die | " + " | ".join(DEPLOYED_MODES) + " | in-situ agreement |",
        "|---|" + "---:|" * (len(DEPLOYED_MODES) + 1),
    ]
    for die in results["dies_programmed"]:
        cells = [_pct(modes[m]["per_die"].get(die)) for m in DEPLOYED_MODES]
        agree = situ.get(die, {}).get("agreement")
        lines.append(f"| {die} | " + " | ".join(cells) + f" | {_pct(agree)} |")
    lines.append(
        "| **mean ± std** | "
        + " | ".join(f"**{_pct(modes[m]['mean'])} ± {_pct(modes[m]['std'])}**"
                     for m in DEPLOYED_MODES)
        + f" | {_pct(results['in_situ_agreement'])} |"
    )
    lines.append(
        "| gap to baseline (points) | "
        + " | ".join(f"{100 * modes[m]['gap_to_baseline']:+.2f}" for m in DEPLOYED_MODES)
        + " | |"
    )
    holdout = results.get("holdout")
    if holdout:
        lines += [
            "",
            f"Held-out wafer (seed {holdout['seed']}, never seen in training), statistics-aware "
            f"weights on {len(holdout['per_die'])} dies: **{_pct(holdout['mean'])} ± "
            f"{_pct(holdout['std'])} %**, gap to baseline "
            f"{100 * holdout['gap_to_baseline']:+.2f} points.",
        ]
    ins = results["in_situ"]
    if ins["images"]:
        lines += [
            "",
            f"In situ ({ins['images']} images over {len(situ)} dies): predictions agree with the "
            f"read-back emulation on {_pct(results['in_situ_agreement'])} % of the images; "
            f"error {_pct(ins['in_situ_error'])} % in situ vs {_pct(ins['emulated_error'])} % "
            "emulated on the same images.",
        ]
    timing = results.get("timing_s", {})
    if timing:
        lines += ["", "Run time (s): " + ", ".join(f"{k} {v:g}" for k, v in timing.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_figure(results: dict[str, Any], path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dies = results["dies_programmed"]
    fig = Figure(figsize=(max(6.0, 0.28 * len(dies) + 2), 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = list(range(len(dies)))
    markers = {"unaware": "v", "hardware-aware": "o", "statistics-aware": "s"}
    for mode in DEPLOYED_MODES:
        per_die = results["modes"][mode]["per_die"]
        ax.plot(x, [100 * per_die[d] for d in dies], markers[mode], label=mode, alpha=0.8)
    holdout = results.get("holdout")
    if holdout:
        hx = list(range(len(holdout["per_die"])))
        ax.plot(hx, [100 * e for e in holdout["per_die"].values()], "x", color="grey",
                label=f"statistics-aware, held-out wafer (seed {holdout['seed']})")
    ax.axhline(100 * results["baseline_error"], color="black", linestyle="--",
               label="software baseline")
    ax.set_xticks(x, dies, rotation=90, fontsize=7)
    ax.set_ylabel("MNIST test error (%)")
    ax.set_title(f"Per-die error after programming, wafer seed {results['seed']}")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=120)
    return path

"""The reproduce run's files: results.json (stable contract), results.csv, results.md and
per_die_error.png, all from the results dictionary (nothing typed in).

Every table names what a die of each mode gets (the paper's protocol gets nothing per die; the
routed mode its per-die row repair, with the configuration size), gives mean +- std and the
median with quartiles, lists the dies that failed with their reason, and the figure places every
point above its die by name (both wafers on one die axis, in wafer-map order).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from labctl.core.wafer_map import ALL_DIE_NAMES
from labctl.reproduce.options import DEPLOYED_MODES

RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
RESULTS_MD = "results.md"
FIGURE = "per_die_error.png"

#: What a die of each mode receives, for the tables (the configuration size is added).
MODE_ROLES = {
    "unaware": "the ideal weights, fixed input-to-row mapping",
    "statistics-aware": "the paper's protocol: one weight set trained on virtual dies from the "
    "wafer statistics, fixed mapping",
    "statistics-aware-routed": "our addition: the same kind of shared weight set plus per-die "
    "row repair (each die's rows assigned from its measured map)",
    "hardware-aware": "its own weights, fine-tuned on its measured map",
}

#: Why in-situ predictions differ from the read-back emulation's (results.md and the docs).
AGREEMENT_NOTE = (
    "Agreement is a measurement, not 100 % by construction: the emulation sums the read-back "
    "conductances linearly at the read voltage, while the die (here the simulator's physics) "
    "drops voltage along its resistive bit lines under the summed current (IR drop, so far rows "
    "count less), reads each AP cell's TMR at the voltage the cell actually sees, has "
    "intermittent cells that read either state, and adds read noise to every bit-line sum. "
    "Images whose neurons sit near a threshold change class; the in-situ error can be above or "
    "below the emulated one on the same images."
)


def write_reports(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write every report file into `out_dir` (JSON last-renamed, so it is never half written)."""
    paths = [
        _write_json(results, out_dir / RESULTS_JSON),
        _write_csv(results, out_dir / RESULTS_CSV),
        _write_markdown(results, out_dir / RESULTS_MD),
        _write_figure(results, out_dir / FIGURE),
    ]
    return paths


def config_text(per_die_config: dict[str, int] | None) -> str:
    """A mode's per-die configuration in words ("none" for the paper's protocol)."""
    if not per_die_config:
        return "unknown"
    parts = [
        f"{_thousands(per_die_config[key])} {label}"
        for key, label in (("routing_bits", "routing bits"), ("weight_cells", "weight cells"),
                           ("periphery_values", "periphery values"))
        if per_die_config.get(key)
    ]
    return ", ".join(parts) if parts else "none"


def _thousands(n: int) -> str:
    return f"{n:,}".replace(",", " ")


def mode_label(mode: str, entry: dict[str, Any]) -> str:
    """Short label for figures: the routed mode says it is per-die row repair and its size."""
    if mode == "statistics-aware":
        return "statistics-aware (paper protocol)"
    if mode == "statistics-aware-routed":
        bits = (entry.get("per_die_config") or {}).get("routing_bits")
        size = f", {_thousands(bits)} bits/die" if bits else ""
        return f"statistics-aware-routed (per-die row repair{size})"
    return mode


def _write_json(results: dict[str, Any], path: Path) -> Path:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def _write_csv(results: dict[str, Any], path: Path) -> Path:
    """One row per (wafer, mode, die): test error from the read-back map, and the die's in-situ
    error and agreement (empty where none was measured), as fractions."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["wafer", "seed", "mode", "die", "error", "in_situ_error", "agreement"])
        writer.writerow([results["wafer"], results["seed"], "ideal", "",
                         results["baseline_error"], "", ""])
        for mode in DEPLOYED_MODES:
            entry = results["modes"][mode]
            situ = entry.get("in_situ", {}).get("per_die", {})
            for die, error in entry["per_die"].items():
                writer.writerow([results["wafer"], results["seed"], mode, die, error,
                                 _blank(situ.get(die, {}).get("in_situ_error")),
                                 _blank(situ.get(die, {}).get("agreement"))])
        holdout = results.get("holdout")
        if holdout:
            for die, error in holdout["per_die"].items():
                writer.writerow([holdout["wafer"], holdout["seed"],
                                 holdout.get("mode", "statistics-aware"), die, error, "", ""])
    return path


def _blank(value: float | None) -> str | float:
    return "" if value is None else value


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _spread(entry: dict[str, Any]) -> tuple[str, str, str]:
    """(mean ± std, median [p25 - p75], min - max), in %."""
    if entry.get("mean") is None:
        return "-", "-", "-"
    return (
        f"{_pct(entry['mean'])} ± {_pct(entry['std'])}",
        f"{_pct(entry.get('median'))} [{_pct(entry.get('p25'))} – {_pct(entry.get('p75'))}]",
        f"{_pct(entry.get('min'))} – {_pct(entry.get('max'))}",
    )


def _failed_lines(failed: dict[str, str]) -> list[str]:
    if not failed:
        return ["none"]
    return [f"- `{die}`: {reason or 'no reason recorded'}" for die, reason in failed.items()]


def _write_markdown(results: dict[str, Any], path: Path) -> Path:
    modes = results["modes"]
    baseline = results["baseline_error"]
    n_situ = results["in_situ"]["images_per_die"]
    lines = [
        "# labctl reproduce: MNIST test error per die (%)",
        "",
        f"Wafer `{results['wafer']}` (seed {results['seed']}); software baseline (ideal) "
        f"**{_pct(baseline)} %**. A mode's error on a die comes from the die's read-back map "
        f"after programming (all {results.get('test_images')} test images); in situ: the first "
        f"{n_situ} test images classified on the die itself through its bit lines, for every "
        "mode.",
        "",
        "What a die of each mode gets, and how much of it is the die's own (per-die "
        "configuration):",
        "",
    ]
    for mode in DEPLOYED_MODES:
        entry = modes[mode]
        routed = entry.get("routing")
        how = "" if routed is None or mode != "hardware-aware" else (
            " (routed: keeps the rows of statistics-aware-routed)" if routed
            else " (fixed mapping)")
        lines.append(f"- **{mode}**: {MODE_ROLES[mode]}{how}; per-die configuration: "
                     f"{config_text(entry.get('per_die_config'))}.")
    lines += [
        "",
        "## Summary",
        "",
        "| mode | per-die configuration | mean ± std | median [p25 – p75] | min – max | gap to "
        "baseline (points) | in-situ error | emulated, same images | agreement | dies |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in DEPLOYED_MODES:
        entry = modes[mode]
        mean_std, median, span = _spread(entry)
        gap = entry.get("gap_to_baseline")
        situ = entry.get("in_situ", {})
        lines.append(
            f"| {mode_label(mode, entry)} | {config_text(entry.get('per_die_config'))} | "
            f"{mean_std} | {median} | {span} | "
            f"{'-' if gap is None else f'{100 * gap:+.2f}'} | {_pct(situ.get('error'))} | "
            f"{_pct(situ.get('emulated_error'))} | {_pct(situ.get('agreement'))} | "
            f"{len(entry['per_die'])} |"
        )
    lines += [
        "",
        f"In situ: {n_situ} images per die and mode. {AGREEMENT_NOTE}",
        "",
        "## Per die",
        "",
        "| die | " + " | ".join(DEPLOYED_MODES) + " | in-situ agreement ("
        + " / ".join(DEPLOYED_MODES) + ") |",
        "|---|" + "---:|" * (len(DEPLOYED_MODES) + 1),
    ]
    for die in results["dies_programmed"]:
        cells = [_pct(modes[m]["per_die"].get(die)) for m in DEPLOYED_MODES]
        agree = [
            _pct(modes[m].get("in_situ", {}).get("per_die", {}).get(die, {}).get("agreement"))
            for m in DEPLOYED_MODES
        ]
        lines.append(f"| {die} | " + " | ".join(cells) + " | " + " / ".join(agree) + " |")
    failed = results.get("failed_dies", results.get("skipped_dies", {}))
    lines += ["", f"Failed dies of this wafer ({len(failed)}), not programmed:", ""]
    lines += _failed_lines(failed)
    holdout = results.get("holdout")
    if holdout:
        mean_std, median, span = _spread(holdout)
        held_failed = holdout.get("failed_dies", {})
        lines += [
            "",
            "## Held-out wafer",
            "",
            f"Wafer seed {holdout['seed']}, never seen in training; "
            f"{holdout.get('mode', 'statistics-aware')} weights (paper protocol) programmed on "
            f"{len(holdout['per_die'])} dies: mean ± std **{mean_std} %**, median [p25 – p75] "
            f"{median} %, range {span} %, gap to baseline "
            f"{100 * holdout['gap_to_baseline']:+.2f} points. Failed dies "
            f"({len(held_failed)}):",
            "",
            *_failed_lines(held_failed),
        ]
    timing = results.get("timing_s", {})
    if timing:
        lines += ["", "Run time (s): " + ", ".join(f"{k} {v:g}" for k, v in timing.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def die_axis(results: dict[str, Any]) -> list[str]:
    """Every die with a point or a failure on either wafer, in wafer-map order."""
    names = set(results["dies_programmed"]) | set(results.get("failed_dies", {}))
    holdout = results.get("holdout")
    if holdout:
        names |= set(holdout["per_die"]) | set(holdout.get("failed_dies", {}))
    return [d for d in ALL_DIE_NAMES if d in names] + sorted(names - set(ALL_DIE_NAMES))


def _figure_caption(results: dict[str, Any]) -> str:
    """Medians, means and spreads per mode and every failed die with its reason (under the
    figure, so the picture says what the tables say)."""
    lines = ["median [p25 - p75], mean ± std (%):"]
    for mode in DEPLOYED_MODES:
        entry = results["modes"][mode]
        mean_std, median, _ = _spread(entry)
        lines.append(f"  {mode_label(mode, entry)}: {median}, {mean_std}")
    holdout = results.get("holdout")
    if holdout:
        mean_std, median, _ = _spread(holdout)
        lines.append(f"  held-out wafer (seed {holdout['seed']}): {median}, {mean_std}")
    failed = {**results.get("failed_dies", {})}
    failed_held = holdout.get("failed_dies", {}) if holdout else {}
    text = "; ".join(f"{d} ({r})" for d, r in failed.items()) or "none"
    lines.append(f"failed dies: {text}")
    if holdout:
        text = "; ".join(f"{d} ({r})" for d, r in failed_held.items()) or "none"
        lines.append(f"failed dies, held-out wafer: {text}")
    return "\n".join(lines)


def _write_figure(results: dict[str, Any], path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dies = die_axis(results)
    at = {die: i for i, die in enumerate(dies)}
    fig = Figure(figsize=(max(7.0, 0.3 * len(dies) + 2), 6.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    markers = {"unaware": "v", "statistics-aware": "s", "statistics-aware-routed": "D",
               "hardware-aware": "o"}
    for mode in DEPLOYED_MODES:
        entry = results["modes"][mode]
        per_die = entry["per_die"]
        ax.plot([at[d] for d in per_die], [100 * e for e in per_die.values()], markers[mode],
                label=mode_label(mode, entry), alpha=0.8, markersize=5)
    holdout = results.get("holdout")
    if holdout:
        per_die = holdout["per_die"]
        ax.plot([at[d] for d in per_die], [100 * e for e in per_die.values()], "x",
                color="grey", label=f"statistics-aware, held-out wafer (seed {holdout['seed']})")
    ax.axhline(100 * results["baseline_error"], color="black", linestyle="--",
               label="software baseline")
    failed = [(d, "this wafer") for d in results.get("failed_dies", {})]
    if holdout:
        failed += [(d, "held-out wafer") for d in holdout.get("failed_dies", {})]
    for die, which in failed:
        ax.axvspan(at[die] - 0.4, at[die] + 0.4, color="red", alpha=0.12, linewidth=0)
        ax.annotate(f"failed ({which})", (at[die], 0.98), xycoords=("data", "axes fraction"),
                    rotation=90, va="top", ha="center", fontsize=6, color="darkred")
    ax.set_xticks(range(len(dies)), dies, rotation=90, fontsize=7)
    ax.set_xlabel(_figure_caption(results), fontsize=7, loc="left")
    ax.set_ylabel("MNIST test error (%)")
    ax.set_title(f"Per-die error after programming, wafer seed {results['seed']} "
                 "(points placed by die name)")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=120)
    return path

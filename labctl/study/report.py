"""`labctl study report`: the results table summed up over seeds, and the two figures.

Over the seed axes (wafer_seed, train_seed) each mode's gap to the baseline is given as the mean
with a 95 % Student-t interval (mean +- t(0.975, n-1) s / sqrt(n), s the sample standard
deviation of the n points). The phase diagram shows each mode's mean gap over two axes and
frames the cells where it is at most the threshold (the paper's finding: within 2 points); the
second figure shows the gap along one axis with its interval, one panel per combination of the
other design axes. In the phase diagram, axes besides x, y and the seeds must have one value, or
be fixed with --where AXIS=VALUE.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labctl.core.errors import ConfigError, LabctlError
from labctl.study.grid import SEED_AXES
from labctl.study.table import RESULTS_FILE, STATUS_OK, read_metadata

REPORT_DIR = "report"
GAP_SUFFIX = ".gap_pct"
#: The paper's finding: statistics-aware training within 2 points of the baseline.
DEFAULT_THRESHOLD_PCT = 2.0
#: Most panels of the gap-vs-axis figure.
MAX_PANELS = 12


@dataclass(frozen=True)
class StudyResults:
    folder: Path
    table: pd.DataFrame
    axes: tuple[str, ...]
    modes: tuple[str, ...]
    metadata: dict[str, Any]

    @property
    def ok(self) -> pd.DataFrame:
        return self.table[self.table["status"] == STATUS_OK]

    @property
    def design_axes(self) -> tuple[str, ...]:
        """Axes other than the seeds (what a figure may plot)."""
        return tuple(a for a in self.axes if a not in SEED_AXES)

    def axis(self, name: str) -> str:
        """The axis named `name`, or the one axis ending in `.name` (r_on_median_ohm)."""
        if name in self.axes:
            return name
        matches = [a for a in self.axes if a.endswith(f".{name}")]
        if len(matches) == 1:
            return matches[0]
        raise ConfigError(f"no axis {name!r} in this study; axes: {', '.join(self.axes)}")


def load_results(folder: str | Path) -> StudyResults:
    folder = Path(folder)
    path = folder / RESULTS_FILE
    if not path.is_file():
        raise LabctlError(f"no {RESULTS_FILE} in {folder}: run `labctl study run` first")
    metadata = read_metadata(folder)
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    fixed = metadata.get("fixed", {})
    axes = tuple(fixed.get("axes", ()))
    missing = [a for a in axes if a not in table.columns]
    if missing:
        raise LabctlError(f"{path} lacks the axis column(s) {missing} of study.json")
    modes = tuple(c[: -len(GAP_SUFFIX)] for c in table.columns if c.endswith(GAP_SUFFIX))
    return StudyResults(folder, table, axes, modes, metadata)


def t_interval(values: Sequence[float] | np.ndarray) -> tuple[float, float, int]:
    """(mean, half-width of the 95 % t-interval, n); the half-width is NaN for n < 2."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, 0
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, n
    half = float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return mean, half, n


def seed_summary(results: StudyResults, by: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per combination of `by` (default: every design axis): points, baseline, and per
    mode the mean gap, its 95 % half-width and the mean error."""
    ok = results.ok
    groups = list(results.design_axes if by is None else by)
    rows = []
    grouped = ok.groupby(groups, sort=True, dropna=False) if groups else [((), ok)]
    for key, part in grouped:
        key_values = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(groups, key_values, strict=True))
        row["n"] = len(part)
        row["baseline_pct"] = float(part["baseline_pct"].mean())
        for mode in results.modes:
            mean, half, _ = t_interval(part[f"{mode}{GAP_SUFFIX}"])
            row[f"{mode}.gap_mean_pct"] = mean
            row[f"{mode}.gap_ci95_pct"] = half
            row[f"{mode}.error_mean_pct"] = float(part[f"{mode}.mean_pct"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def select(results: StudyResults, where: Mapping[str, str]) -> StudyResults:
    """Only the rows whose axes have the given values (compared as text)."""
    table = results.table
    for name, value in where.items():
        column = results.axis(name)
        keep = table[column].astype(str) == str(value)
        if not keep.any():
            values = sorted(set(table[column].astype(str)))
            raise ConfigError(f"no point with {column} = {value}; values: {values}")
        table = table[keep]
    return StudyResults(results.folder, table, results.axes, results.modes, results.metadata)


def _check_single(results: StudyResults, plotted: Sequence[str]) -> None:
    for axis in results.design_axes:
        if axis in plotted:
            continue
        values = results.ok[axis].astype(str).unique()
        if len(values) > 1:
            raise ConfigError(
                f"axis {axis} has {len(values)} values ({', '.join(values)}): plot it or fix "
                f"it with --where {axis}=VALUE"
            )


def _sorted_values(series: pd.Series) -> list[Any]:
    values = list(series.unique())
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def phase_diagram(
    results: StudyResults, x: str, y: str, path: Path, threshold: float = DEFAULT_THRESHOLD_PCT
) -> Path:
    """Each mode's mean gap over (x, y), cells with gap <= threshold framed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.patches import Rectangle

    x, y = results.axis(x), results.axis(y)
    if x == y:
        raise ConfigError("--x and --y must be different axes")
    _check_single(results, (x, y))
    summary = seed_summary(results, (x, y))
    xs, ys = _sorted_values(summary[x]), _sorted_values(summary[y])
    modes = results.modes
    means = {m: np.full((len(ys), len(xs)), np.nan) for m in modes}
    halves = {m: np.full((len(ys), len(xs)), np.nan) for m in modes}
    for _, row in summary.iterrows():
        i, j = ys.index(row[y]), xs.index(row[x])
        for m in modes:
            means[m][i, j] = row[f"{m}.gap_mean_pct"]
            halves[m][i, j] = row[f"{m}.gap_ci95_pct"]
    finite = np.concatenate([g[np.isfinite(g)] for g in means.values()])
    # Green at or below the threshold, red above, white at it.
    low = min(float(finite.min()) if finite.size else 0.0, threshold - 1.0)
    high = max(float(finite.max()) if finite.size else 0.0, threshold + 1.0)
    norm = TwoSlopeNorm(vmin=low, vcenter=threshold, vmax=high)
    fig, axes = plt.subplots(1, len(modes), figsize=(4.2 * len(modes) + 1, 4), squeeze=False,
                             sharey=True)
    image: Any = None
    for k, (ax, mode) in enumerate(zip(axes[0], modes, strict=True)):
        grid = means[mode]
        image = ax.imshow(grid, origin="lower", cmap="RdYlGn_r", norm=norm, aspect="auto")
        for i in range(len(ys)):
            for j in range(len(xs)):
                value, half = grid[i, j], halves[mode][i, j]
                if not np.isfinite(value):
                    continue
                text = f"{value:+.1f}" + (f"\n±{half:.1f}" if np.isfinite(half) else "")
                ax.text(j, i, text, ha="center", va="center", fontsize=8)
                if value <= threshold:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2.5,
                                           edgecolor="black"))
        ax.set_xticks(range(len(xs)), [_fmt_value(v) for v in xs])
        ax.set_yticks(range(len(ys)), [_fmt_value(v) for v in ys])
        ax.set_xlabel(x)
        if k == 0:
            ax.set_ylabel(y)
        ax.set_title(mode)
    fig.colorbar(image, ax=list(axes[0]), label="gap to baseline (points, mean over seeds)")
    fig.suptitle(f"gap to baseline, mean ± 95 % t-interval over seeds; framed: mean gap <= "
                 f"{threshold:g} points ({_source_note(results)})", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def gap_vs_axis(
    results: StudyResults, axis: str, path: Path, threshold: float = DEFAULT_THRESHOLD_PCT
) -> Path:
    """Each mode's gap along `axis`: mean over seeds with its 95 % t-interval; one panel per
    combination of the other design axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axis = results.axis(axis)
    others = [a for a in results.design_axes if a != axis]
    ok = results.ok
    panels = [((), ok)] if not others else list(ok.groupby(others, sort=True))
    if len(panels) > MAX_PANELS:
        raise ConfigError(
            f"{len(panels)} combinations of {', '.join(others)}: fix some with --where"
        )
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(5.5 * ncols, 3.9 * nrows), squeeze=False,
                             sharey=True)
    for ax, (key, part) in zip(grid.flat, panels, strict=False):
        sub = StudyResults(results.folder, part, results.axes, results.modes, results.metadata)
        _gap_panel(ax, sub, axis, threshold)
        key_values = key if isinstance(key, tuple) else (key,)
        if others:
            ax.set_title(", ".join(f"{a}={_fmt_value(v)}"
                                   for a, v in zip(others, key_values, strict=True)), fontsize=8)
    for ax in list(grid.flat)[len(panels):]:
        ax.set_visible(False)
    n = int(seed_summary(results, (axis, *others))["n"].min()) if len(ok) else 0
    fig.suptitle(f"gap to baseline: mean and 95 % t-interval over {n} seed point(s) per value "
                 f"({_source_note(results)})", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _gap_panel(ax: Any, results: StudyResults, axis: str, threshold: float) -> None:
    summary = seed_summary(results, (axis,))
    values = _sorted_values(summary[axis])
    summary = summary.set_index(axis).loc[values]
    numeric = all(isinstance(v, (int, float, np.number)) for v in values)
    positions = np.asarray(values, dtype=float) if numeric else np.arange(len(values))
    for k, mode in enumerate(results.modes):
        mean = summary[f"{mode}.gap_mean_pct"].to_numpy(dtype=float)
        half = np.nan_to_num(summary[f"{mode}.gap_ci95_pct"].to_numpy(dtype=float))
        # Side by side by a little, so that the intervals do not hide each other.
        offset = k - (len(results.modes) - 1) / 2
        shift = positions * (1 + 0.015 * offset) if numeric else positions + 0.06 * offset
        ax.errorbar(shift, mean, yerr=half, marker="o", capsize=4, label=mode)
    ax.axhline(threshold, color="black", ls="--", lw=1, label=f"{threshold:g} points")
    ax.axhline(0, color="grey", lw=0.8)
    if numeric and min(values) > 0 and max(values) / min(values) >= 10:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(positions, [str(v) for v in values])
    ax.set_xlabel(axis)
    ax.set_ylabel("gap to baseline (points)")
    ax.legend(fontsize=7)


def _source_note(results: StudyResults) -> str:
    source = str(results.metadata.get("map_source", "maps of unknown source"))
    return source.split(" (")[0]


def summary_markdown(results: StudyResults, summary: pd.DataFrame) -> str:
    """The seed summary as a Markdown table: gap mean +- 95 % half-width per mode."""
    axes = [a for a in results.design_axes if a in summary.columns]
    header = [*axes, "n", "baseline %", *[f"{m} gap (pt)" for m in results.modes]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in summary.iterrows():
        cells = [_fmt_value(row[a]) for a in axes]
        cells += [str(int(row["n"])), f"{row['baseline_pct']:.2f}"]
        for m in results.modes:
            cells.append(_fmt_gap(row[f"{m}.gap_mean_pct"], row[f"{m}.gap_ci95_pct"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _fmt_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _fmt_gap(mean: float, half: float) -> str:
    if not math.isfinite(mean):
        return "n/a"
    return f"{mean:+.2f}" if not math.isfinite(half) else f"{mean:+.2f} ± {half:.2f}"

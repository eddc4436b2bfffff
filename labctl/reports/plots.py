"""Report figures of a wafer file, drawn with matplotlib's object API on the Agg canvas (no
pyplot state, no display): the wafer map, and per die the resistance and defect heatmaps and
the resistance / TMR histograms with the classifier's thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm, Colormap, ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, NullLocator

from labctl.core.defects import DefectCode
from labctl.core.wafer_map import WAFER_MAP
from labctl.reports.summary import DieSummary, WaferSummary
from labctl.store.layout import DieStatus, TileData

#: One colour per DefectCode (ok, short, open, stuck_p, stuck_ap).
DEFECT_COLOURS = ("#d9d9d9", "#d62728", "#1f1f1f", "#1f77b4", "#ff7f0e")
_STATUS_COLOURS = {
    DieStatus.PENDING: "#ffffff",
    DieStatus.RUNNING: "#fff2b3",
    DieStatus.FAILED: "#f4a6a6",
}
_DPI = 100


def save_wafer_map(summary: WaferSummary, path: Path) -> None:
    """Wafer map: each die coloured by yield (complete) or status, labelled with its numbers."""
    fig = Figure(figsize=(9.5, 7.0), dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.08, 0.14, 0.72, 0.78))
    cmap = colormaps["RdYlGn"]
    yields = [d.stats.yield_fraction for d in summary.dies.values() if d.stats is not None]
    norm = Normalize(vmin=min([*yields, 0.95]), vmax=1.0)
    by_position = {(d.col, d.row): d for d in summary.dies.values()}
    positions = sorted(set(WAFER_MAP) | set(by_position))
    for col, row in positions:
        colour, label = _die_cell(by_position.get((col, row)), cmap, norm)
        ax.add_patch(
            Rectangle((col + 0.03, row + 0.03), 0.94, 0.94, facecolor=colour, edgecolor="#555555")
        )
        ax.text(col + 0.5, row + 0.5, label, ha="center", va="center", fontsize=7.5)
    cols = sorted({c for c, _ in positions})
    rows = sorted({r for _, r in positions})
    ax.set_xlim(cols[0] - 0.1, cols[-1] + 1.1)
    ax.set_ylim(rows[-1] + 1.1, rows[0] - 0.1)  # map row 0 at the top, as the prober steps
    ax.set_xticks([c + 0.5 for c in cols], [str(c) for c in cols])
    ax.set_yticks([r + 0.5 for r in rows], [str(r) for r in rows])
    ax.set_aspect("equal")
    ax.set_xlabel("map column")
    ax.set_ylabel("map row")
    ax.set_title(f"wafer {summary.wafer_id}: yield per die ({summary.kind})")
    fig.colorbar(
        ScalarMappable(norm=norm, cmap=cmap),
        cax=fig.add_axes((0.84, 0.3, 0.025, 0.55)),
        label="yield (fraction of ok cells)",
    )
    fig.legend(
        handles=[
            Patch(facecolor=c, edgecolor="#555555", label=s.value)
            for s, c in _STATUS_COLOURS.items()
        ],
        loc="lower center",
        ncol=3,
        fontsize=8,
        title="dies without data",
    )
    fig.savefig(path)


def save_die_figure(die: DieSummary, tiles: Sequence[TileData], path: Path) -> None:
    """Per tile: R_P and R_AP heatmaps and the defect map; below, histograms of resistance (ok
    cells and defects, with the classifier's short / open thresholds) and of TMR."""
    n = len(tiles)
    fig = Figure(figsize=(13.0, 3.2 * n + 3.0), dpi=_DPI)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(
        n + 1,
        3,
        height_ratios=[3.0] * n + [2.4],
        left=0.06,
        right=0.97,
        bottom=0.07,
        top=0.93,
        hspace=0.45,
        wspace=0.25,
    )
    defect_cmap = ListedColormap(DEFECT_COLOURS)
    defect_norm = BoundaryNorm(np.arange(len(DEFECT_COLOURS) + 1) - 0.5, len(DEFECT_COLOURS))
    for i, tile in enumerate(tiles):
        for j, (array, title) in enumerate(
            ((tile.r_parallel_ohm, "R_P"), (tile.r_antiparallel_ohm, "R_AP"))
        ):
            ax = fig.add_subplot(grid[i, j])
            kohm = array / 1e3
            low, high = _robust_range(kohm if tile.defects is None else kohm[tile.defects == 0])
            image = ax.imshow(
                kohm, vmin=low, vmax=high, cmap="magma", aspect="auto", interpolation="nearest"
            )
            ax.set_title(f"tile {tile.index}: {title} (kohm; defects saturate)", fontsize=9)
            _label_axes(ax)
            fig.colorbar(image, ax=ax, pad=0.02)
        ax = fig.add_subplot(grid[i, 2])
        if tile.defects is not None:
            ax.imshow(
                tile.defects,
                cmap=defect_cmap,
                norm=defect_norm,
                aspect="auto",
                interpolation="nearest",
            )
        ax.set_title(f"tile {tile.index}: defects", fontsize=9)
        _label_axes(ax)
    fig.legend(
        handles=[
            Patch(color=c, label=code.name.lower())
            for code, c in zip(DefectCode, DEFECT_COLOURS, strict=True)
        ],
        loc="upper right",
        ncol=5,
        fontsize=8,
    )
    _resistance_histogram(fig.add_subplot(grid[n, 0:2]), tiles)
    _tmr_histogram(fig.add_subplot(grid[n, 2]), tiles)
    yield_text = f", yield {100 * die.stats.yield_fraction:.2f} %" if die.stats else ""
    fig.suptitle(f"{die.name} ({die.status.value}{yield_text})", x=0.02, ha="left")
    fig.savefig(path)


def _robust_range(values: np.ndarray) -> tuple[float, float]:
    """1st to 99th percentile of the finite values (of ok cells where known), so that defects
    saturate instead of hiding the device-to-device variation."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    low, high = np.percentile(finite, [1.0, 99.0])
    return float(low), float(max(high, low * (1 + 1e-6) + 1e-12))


def _die_cell(
    die: DieSummary | None, cmap: Colormap, norm: Normalize
) -> tuple[str | tuple[float, float, float, float], str]:
    if die is None:
        return "#eeeeee", "absent"
    short = die.name.removeprefix("die_")
    if die.stats is not None:
        return cmap(norm(die.stats.yield_fraction)), (
            f"{short}\n{100 * die.stats.yield_fraction:.1f}%"
        )
    return _STATUS_COLOURS.get(die.status, "#ffffff"), f"{short}\n{die.status.value}"


def _label_axes(ax: Axes) -> None:
    ax.set_xlabel("column", fontsize=8)
    ax.set_ylabel("row", fontsize=8)
    ax.tick_params(labelsize=7)


def _resistance_histogram(ax: Axes, tiles: Sequence[TileData]) -> None:
    defects = np.concatenate([_codes(t).ravel() for t in tiles])
    r_p = np.concatenate([t.r_parallel_ohm.ravel() for t in tiles])
    r_ap = np.concatenate([t.r_antiparallel_ohm.ravel() for t in tiles])
    values = np.r_[r_p, r_ap]
    values = values[np.isfinite(values) & (values > 0)]
    bins = np.logspace(np.log10(values.min()) - 0.05, np.log10(values.max()) + 0.05, 160)
    ok = defects == DefectCode.OK
    # One stairs artist per histogram (ax.hist would draw a patch per bin: slow to render).
    _stairs(ax, r_p[ok], bins, "R_P, ok cells", "#1f77b4")
    _stairs(ax, r_ap[ok], bins, "R_AP, ok cells", "#ff7f0e")
    if (~ok).any():
        _stairs(ax, np.r_[r_p[~ok], r_ap[~ok]], bins, "defective cells (both reads)", "#444444")
    label = "short / open thresholds"
    for tile in tiles:
        th = tile.thresholds
        if th is None:
            continue
        for value in (th.short_max_ohm, th.open_min_ohm):
            ax.axvline(value, color="#d62728", linestyle="--", linewidth=0.8, label=label)
            label = "_nolegend_"
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):  # plain labels, no minor ticks: much faster to draw
        axis.set_minor_locator(NullLocator())
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_xlabel("resistance (ohm)")
    ax.set_ylabel("cells")
    ax.legend(fontsize=8)


def _tmr_histogram(ax: Axes, tiles: Sequence[TileData]) -> None:
    defects = np.concatenate([_codes(t).ravel() for t in tiles])
    tmr = np.concatenate([t.tmr.ravel() for t in tiles])[defects == DefectCode.OK]
    tmr = tmr[np.isfinite(tmr)]
    if tmr.size:
        _stairs(ax, 100 * tmr, np.histogram_bin_edges(100 * tmr, bins=80), None, "#2ca02c")
    ax.set_xlabel("TMR of ok cells (%)")
    ax.set_ylabel("cells")


def _stairs(ax: Axes, values: np.ndarray, bins: np.ndarray, label: str | None, colour: str) -> None:
    counts, edges = np.histogram(values[np.isfinite(values)], bins=bins)
    ax.stairs(counts, edges, fill=True, alpha=0.6, color=colour, label=label)


def _codes(tile: TileData) -> np.ndarray:
    if tile.defects is None:
        return np.zeros(tile.shape, dtype=np.uint8)
    return tile.defects

"""Die view: heatmap contents, defect colours and legend, histograms, thresholds, hover text."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PyQt6.QtCore import QPointF
from PyQt6.QtGui import QColor

from gui.die_view import DieView, LogOhmAxis, log_histogram, threshold_lines
from gui.style import DEFECT_COLORS, DEFECT_LABELS
from labctl.core.defects import DefectCode
from labctl.store import TileData


@pytest.fixture
def view(qtbot):
    widget = DieView()
    qtbot.addWidget(widget)
    widget.resize(900, 800)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_heatmaps_show_the_tile_in_display_units(view, tiles):
    view.show_die("die_03_00", "complete", tiles)
    tile = tiles[0]
    np.testing.assert_allclose(view.displayed_image("r_parallel"), tile.r_parallel_ohm * 1e-3)
    np.testing.assert_allclose(view.displayed_image("r_antiparallel"),
                               tile.r_antiparallel_ohm * 1e-3)
    np.testing.assert_allclose(view.displayed_image("tmr"), tile.tmr * 100.0)
    assert "die_03_00" in view.title.text() and "complete" in view.title.text()
    assert view.tile_combo.count() == 2


def test_defect_map_colours_each_code_and_legend_counts_them(view, tiles):
    view.show_die("die_03_00", "complete", tiles)
    tile = tiles[0]
    rgba = view.displayed_image("defects")
    assert rgba.shape == (*tile.shape, 4)
    for code, color in DEFECT_COLORS.items():
        where = tile.defects == code
        if where.any():
            q = QColor(color)
            assert (rgba[where][:, :3] == (q.red(), q.green(), q.blue())).all()
        count = int(where.sum())
        assert view.defect_legend.count_text(code).endswith(f" {count}")


def test_switching_tiles_redraws(view, tiles):
    view.show_die("die_03_00", "complete", tiles)
    view.set_tile(1)
    np.testing.assert_allclose(view.displayed_image("r_parallel"), tiles[1].r_parallel_ohm * 1e-3)
    view.show_die("die_03_00", "complete", tiles)  # a refresh keeps the chosen tile
    assert view.current_tile().index == 1
    view.show_die("die_04_00", "complete", tiles)  # another die starts at tile 0
    assert view.current_tile().index == 0


def test_histograms_count_every_cell_and_draw_the_thresholds(view, tiles):
    view.show_die("die_03_00", "complete", tiles)
    tile = tiles[0]
    lines = threshold_lines(tile.thresholds)
    for key in ("r_parallel", "r_antiparallel"):
        values = getattr(tile, f"{key}_ohm")
        _, counts, below, above = log_histogram(values, lines)
        assert counts.sum() + below + above == values.size
        assert view.histogram_counts(key) == counts.sum()
        drawn = sorted(view.threshold_positions_ohm(key))
        assert drawn == pytest.approx(sorted(line.r_ohm for line in lines))


def test_threshold_lines_separate_short_p_ap_open(tiles):
    thresholds = tiles[0].thresholds
    short, boundary, open_ = threshold_lines(thresholds)
    assert short.r_ohm == thresholds.short_max_ohm
    assert open_.r_ohm == thresholds.open_min_ohm
    p = 10 ** thresholds.median_log10_r_parallel
    ap = 10 ** thresholds.median_log10_r_antiparallel
    assert p < boundary.r_ohm < ap


def test_open_cells_never_stretch_the_histogram():
    """A whole open bit line (several per cent of the cells) is counted, not plotted."""
    values = np.concatenate([np.full(900, 4e3), np.full(100, 1e11)])
    defects = np.concatenate([np.zeros(900), np.full(100, DefectCode.OPEN)]).astype(np.uint8)
    edges, counts, below, above = log_histogram(values, [], defects)
    assert below == 0
    assert above == 100 and counts.sum() == 900 and 10 ** edges[-1] < 1e5


def test_log_histogram_keeps_far_outliers_off_scale():
    healthy = 4e3 * np.exp(0.05 * np.random.default_rng(0).standard_normal(1000))
    values = np.concatenate([healthy, np.full(3, 1e11)])
    edges, counts, below, above = log_histogram(values, [])
    assert above >= 3 and counts.sum() + below + above == values.size
    assert 10 ** edges[-1] < 1e6


def test_hover_text_names_row_column_and_values_with_units(view, tiles, qtbot):
    view.show_die("die_03_00", "complete", tiles)
    tile = tiles[0]
    text = view.cell_text(3, 7)
    assert "row 3, column 7" in text
    assert "Ω" in text and "%" in text
    assert text.endswith(DEFECT_LABELS[DefectCode(int(tile.defects[3, 7]))])
    plot = view._plots["R_P"]
    scene = plot.vb.mapViewToScene(QPointF(7.5, 3.5))
    view.maps.scene().sigMouseMoved.emit(scene)
    assert view.hover_label.text() == text


def test_a_partial_tile_shows_measured_rows_only(view, tiles):
    full = tiles[0]
    rows_done = 10
    r_p = full.r_parallel_ohm.copy()
    r_p[rows_done:] = np.nan
    partial = TileData(index=0, r_parallel_ohm=r_p, r_antiparallel_ohm=r_p * 2, tmr=r_p * 0 + 1,
                       rows_done=rows_done)
    view.show_die("die_05_00", "running", [partial], note="measuring tile 0")
    shown = view.displayed_image("r_parallel")
    assert np.isfinite(shown[:rows_done]).all() and np.isnan(shown[rows_done:]).all()
    assert (view.displayed_image("defects")[..., 3] == 0).all()  # not classified yet
    assert view.defects_note.isVisible()
    assert "not measured yet" in view.cell_text(rows_done + 1, 0)
    assert "measuring tile 0" in view.title.text()


def test_clear_empties_the_view(view, tiles):
    view.show_die("die_03_00", "complete", tiles)
    view.clear("nothing here")
    assert view.current_tile() is None and view.title.text() == "nothing here"
    assert view.displayed_image("r_parallel") is None


def test_log_axis_ticks_read_as_resistances():
    axis = LogOhmAxis()
    (spacing, values), = axis.tickValues(math.log10(2e3), math.log10(2e4), 600)
    assert all(math.log10(2e3) <= v <= math.log10(2e4) for v in values)
    assert "10 kΩ" in axis.tickStrings(values, 1.0, spacing)


def test_log_axis_ticks_a_narrow_range_linearly():
    axis = LogOhmAxis()
    (_, values), = axis.tickValues(math.log10(3.7e3), math.log10(4.5e3), 400)
    labels = axis.tickStrings(values, 1.0, 1.0)
    assert len(values) >= 2 and "4 kΩ" in labels

"""The reproduce reports from a results dictionary: failed dies with their reason, medians and
spreads per mode, the routed mode named with its configuration size, points placed by die name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labctl.reproduce.options import DEPLOYED_MODES
from labctl.reproduce.report import config_text, die_axis, write_reports
from labctl.reproduce.run import error_stats


def results() -> dict[str, Any]:
    modes = {}
    for k, mode in enumerate(DEPLOYED_MODES):
        entry = error_stats({"die_03_00": 0.1 + k / 100, "die_02_00": 0.2})
        entry["gap_to_baseline"] = entry["mean"] - 0.08
        entry["per_die_config"] = {"routing_bits": 2296 if mode == "statistics-aware-routed"
                                   else 0, "weight_cells": 0, "periphery_values": 0}
        entry["routing"] = mode == "statistics-aware-routed"
        entry["in_situ"] = {"error": 0.12, "agreement": 0.9, "images_per_die": 1000,
                            "images": 2000, "emulated_error": 0.11,
                            "per_die": {"die_02_00": {"agreement": 0.9, "in_situ_error": 0.1,
                                                      "emulated_error": 0.1}}}
        modes[mode] = entry
    holdout = {"seed": 1, "wafer": "h.h5", "mode": "statistics-aware", "gap_to_baseline": 0.05,
               **error_stats({"die_05_01": 0.3, "die_02_00": 0.2}),
               "failed_dies": {"die_04_00": "gross gate short"}}
    return {
        "baseline_error": 0.08, "modes": modes, "wafer": "w.h5", "seed": 0,
        "in_situ": {"images_per_die": 1000}, "test_images": 10000,
        "dies_programmed": ["die_03_00", "die_02_00"], "holdout": holdout,
        "failed_dies": {"die_01_01": "contact lost 3 times"}, "timing_s": {"total": 1.0},
    }


def test_die_axis_holds_both_wafers_and_failed_dies_in_wafer_map_order() -> None:
    axis = die_axis(results())
    assert set(axis) == {"die_02_00", "die_03_00", "die_01_01", "die_05_01", "die_04_00"}
    assert axis.index("die_02_00") < axis.index("die_03_00") < axis.index("die_04_00")
    assert axis.index("die_04_00") < axis.index("die_01_01")  # row 0 before row 1


def test_reports_list_failed_dies_medians_and_the_routed_configuration(tmp_path: Path) -> None:
    paths = write_reports(results(), tmp_path)
    assert all(p.stat().st_size > 0 for p in paths)
    md = (tmp_path / "results.md").read_text()
    assert "`die_01_01`: contact lost 3 times" in md
    assert "`die_04_00`: gross gate short" in md
    assert "statistics-aware-routed (per-die row repair, 2 296 bits/die)" in md
    assert "15.00 [12.50 – 17.50]" in md  # unaware's median and quartiles of 10 % and 20 %
    assert config_text({"routing_bits": 0, "weight_cells": 0, "periphery_values": 0}) == "none"
    assert config_text({"routing_bits": 2296}) == "2 296 routing bits"

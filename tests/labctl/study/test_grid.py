"""The grid file: points, stable ids, refused keys and values."""

from __future__ import annotations

from pathlib import Path

import pytest
from study_helpers import QUICK_GRID

from labctl.core.errors import ConfigError
from labctl.study.grid import load_grid, parse_grid, point_id


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(text)
    return path


def test_quick_grid_is_two_by_two_with_unique_stable_ids():
    grid = load_grid(QUICK_GRID, quick=True)
    points = grid.points()
    assert len(points) == 4
    assert len({p.point_id for p in points}) == 4
    assert [p.point_id for p in points] == [p.point_id for p in load_grid(QUICK_GRID).points()]
    assert {(p.sim["r_short_median_ohm"], p.wafer_seed) for p in points} == {
        (100.0, 0), (100.0, 1), (2000.0, 0), (2000.0, 1)
    }


def test_point_id_depends_only_on_its_own_axis_values():
    small = parse_grid({"axes": {"wafer_seed": [0, 1]}})
    large = parse_grid({"axes": {"wafer_seed": [0, 1, 2]}})
    assert {p.point_id for p in small.points()} < {p.point_id for p in large.points()}
    assert point_id({"a": 1, "b": 2}) == point_id({"b": 2, "a": 1})


def test_axes_reach_sim_params_training_and_modes():
    grid = parse_grid(
        {
            "study": {"modes": ["unaware"]},
            "training": {"preset": "quick", "ideal_epochs": 3.0},
            "sim": {"r_on_median_ohm": 2000.0},
            "axes": {
                "sim.defect_rate_good_median": [0.001, 0.01],
                "training.statistics_epochs": [0.5],
                "mode": ["unaware", ["statistics-aware", "hardware-aware"]],
                "train_seed": [3],
            },
        }
    )
    points = grid.points()
    assert len(points) == 4
    first = points[0]
    assert first.sim == {"r_on_median_ohm": 2000.0, "defect_rate_good_median": 0.001}
    assert first.training == {"ideal_epochs": 3.0, "statistics_epochs": 0.5}
    assert first.train_seed == 3 and first.wafer_seed == 0
    assert {p.modes for p in points} == {("unaware",), ("statistics-aware", "hardware-aware")}
    assert grid.all_modes() == ("unaware", "statistics-aware", "hardware-aware")
    grid.check_points()


def test_quick_swaps_the_preset_and_drops_fixed_training_overrides():
    raw = {"training": {"preset": "study", "ideal_epochs": 30.0}, "axes": {"wafer_seed": [0]}}
    grid = parse_grid(raw, quick=True)
    assert grid.preset == "quick" and grid.training == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[axes]\n"sim.no_such_field" = [1.0]\n', "no_such_field"),
        ('[sim]\nwarp_factor = 9\n', "warp_factor"),
        ('[training]\nlearning_speed = 1\n', "learning_speed"),
        ('[axes]\ncolour = ["red"]\n', "unknown axis"),
        ('[axes]\nwafer_seed = []\n', "non-empty"),
        ('[axes]\nwafer_seed = [1, 1]\n', "repeats"),
        ('[axes]\nmode = ["telepathic"]\n', "telepathic"),
        ('[training]\npreset = "huge"\n', "preset"),
        ('[axes]\n"sim.r_p_median_ohm" = [3000.0, -5.0]\n', "r_p_median_ohm"),
        ('[axes]\n"training.dies" = [0]\n', "dies"),
        ("[axes\n", "not valid TOML"),
    ],
)
def test_bad_grids_are_refused_before_any_point_runs(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_grid(write(tmp_path, text))

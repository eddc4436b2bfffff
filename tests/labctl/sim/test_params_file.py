"""Simulator parameters from a TOML file: round trip, refusals, and a wafer that shows them."""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from labctl.core.defects import DefectCode
from labctl.core.errors import ConfigError
from labctl.sim.params import SimParams
from labctl.sim.params_file import load_sim_params, sim_params_from_dict, sim_params_to_dict
from labctl.sim.wafer import VirtualWafer

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

EXAMPLE = Path(__file__).parents[3] / "data" / "sim-params" / "example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.toml"
    path.write_text(text)
    return path


def test_example_file_lists_every_field_at_its_default() -> None:
    document = tomllib.loads(EXAMPLE.read_text())
    assert set(document) == {field.name for field in fields(SimParams)}
    assert load_sim_params(EXAMPLE) == SimParams()


def test_partial_file_overrides_only_its_keys(tmp_path: Path) -> None:
    params = load_sim_params(write(tmp_path, "r_on_median_ohm = 3000\ntile_shapes = [[4, 3]]\n"))
    assert params == SimParams(r_on_median_ohm=3000.0, tile_shapes=((4, 3),))


def test_dict_round_trip_through_json_and_toml(tmp_path: Path) -> None:
    params = SimParams(r_short_median_ohm=1200.0, r_wire_bitline_ohm=0.1, tile_shapes=((8, 5),))
    stored = json.loads(json.dumps(sim_params_to_dict(params)))
    assert sim_params_from_dict(stored) == params
    lines = [f"{key} = {json.dumps(value)}" for key, value in stored.items()]
    assert load_sim_params(write(tmp_path, "\n".join(lines))) == params


def test_unknown_key_is_refused_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, "r_on_median_ohm = 1500\nr_onn_median_ohm = 1500\n")
    with pytest.raises(ConfigError, match="r_onn_median_ohm") as info:
        load_sim_params(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("intermittent_fraction = 1.5", "intermittent_fraction"),
        ("r_wire_bitline_ohm = -0.1", "r_wire_bitline_ohm"),
        ("r_on_median_ohm = 0", "r_on_median_ohm"),
        ("r_short_sigma_log = 7.0", "r_short_sigma_log"),
        ("v_gate_nominal_V = 0.3", "v_gate_nominal_V"),
        ("tile_shapes = [[196, 0]]", "tile_shapes"),
    ],
)
def test_out_of_range_value_is_refused_with_file_and_key(
    tmp_path: Path, text: str, key: str
) -> None:
    path = write(tmp_path, text + "\n")
    with pytest.raises(ConfigError, match=key) as info:
        load_sim_params(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('r_p_median_ohm = "3 kOhm"', "r_p_median_ohm"),
        ("tmr_median = true", "tmr_median"),
        ("tile_shapes = [[196.5, 100]]", "tile_shapes"),
        ("tile_shapes = 196", "tile_shapes"),
        ("r_p_median_ohm = nan", "r_p_median_ohm"),
    ],
)
def test_bad_type_is_refused_with_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text + "\n")
    with pytest.raises(ConfigError, match=key) as info:
        load_sim_params(path)
    assert str(path) in str(info.value)


def test_unreadable_or_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_sim_params(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_sim_params(write(tmp_path, "r_p_median_ohm = = 3\n"))


def count_codes(wafer: VirtualWafer) -> dict[int, int]:
    counts = dict.fromkeys(DefectCode, 0)
    for die in wafer.dies():
        for k in range(die.n_tiles):
            codes, n = np.unique(die.truth(k).defects, return_counts=True)
            for code, count in zip(codes.tolist(), n.tolist(), strict=True):
                counts[DefectCode(code)] += count
    return {int(code): count for code, count in counts.items()}


def test_wafer_from_a_file_with_five_times_the_short_rate_shows_it(tmp_path: Path) -> None:
    """Shorts x5, the other defect types unchanged: weight 0.3 -> 1.5 and the defect rates
    scaled by the new weight sum (2.2 instead of 1.0)."""
    base = SimParams(bad_die_probability=0.0, line_failures_per_die_mean=0.0)
    path = write(
        tmp_path,
        "bad_die_probability = 0.0\nline_failures_per_die_mean = 0.0\n"
        f"defect_weight_short = 1.5\ndefect_rate_good_median = {2.2 * 0.0035}\n",
    )
    shorts_x5 = load_sim_params(path)
    before = count_codes(VirtualWafer(3, base))
    after = count_codes(VirtualWafer(3, shorts_x5))
    assert 4.0 < after[DefectCode.SHORT] / before[DefectCode.SHORT] < 6.0
    for code in (DefectCode.OPEN, DefectCode.STUCK_P, DefectCode.STUCK_AP):
        assert 0.7 < after[code] / before[code] < 1.4, code.name

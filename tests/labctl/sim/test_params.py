"""SimParams: defaults as documented, frozen, and validated with a clear ConfigError."""

from __future__ import annotations

import dataclasses
import math

import pytest

from labctl.core.errors import ConfigError, LabctlError
from labctl.sim.params import SimParams


def test_default_die_is_the_196_100_10_network() -> None:
    params = SimParams()
    assert params.tile_shapes == ((196, 100), (100, 10))
    assert params.cells_per_die == 20_600


def test_defaults_are_plausible_stt_mram_values() -> None:
    params = SimParams()
    assert 1_000 <= params.r_p_median_ohm <= 10_000
    assert 1.0 <= params.tmr_median <= 2.0
    assert 500 <= params.r_on_median_ohm <= 2_000
    assert params.v_threshold_V < params.v_gate_nominal_V
    assert 0.002 <= params.read_noise_rel_nplc1 <= 0.005
    assert params.vc_ap2p_median_V < params.vc_p2ap_median_V < 0.8


def test_params_are_frozen_and_hashable() -> None:
    params = SimParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.r_p_median_ohm = 1.0  # type: ignore[misc]
    assert hash(params) == hash(SimParams())


def test_custom_tile_shapes_change_cell_count() -> None:
    assert SimParams(tile_shapes=((4, 3),)).cells_per_die == 12


def test_defect_weights_follow_defect_code_order() -> None:
    params = SimParams(
        defect_weight_short=1,
        defect_weight_open=2,
        defect_weight_stuck_p=3,
        defect_weight_stuck_ap=4,
    )
    assert params.defect_weights == (1, 2, 3, 4)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"r_p_median_ohm": -1.0}, "r_p_median_ohm"),
        ({"r_p_median_ohm": 0.0}, "r_p_median_ohm"),
        ({"tmr_median": math.nan}, "tmr_median"),
        ({"switching_tau0_s": math.inf}, "switching_tau0_s"),
        ({"bad_die_probability": 1.5}, "bad_die_probability"),
        ({"tile_shapes": ()}, "tile_shapes"),
        ({"tile_shapes": ((196, 0),)}, "tile_shapes"),
        ({"tile_shapes": ((196, 100, 1),)}, "tile_shapes"),
        ({"tile_shapes": [(196, 100)]}, "tile_shapes"),
        ({"v_gate_nominal_V": 0.3}, "v_gate_nominal_V"),
        ({"r_on_median_ohm": "1k"}, "r_on_median_ohm"),
    ],
)
def test_invalid_values_raise_config_error_naming_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        SimParams(**changes)


def test_all_zero_defect_weights_are_refused() -> None:
    with pytest.raises(LabctlError, match="defect_weight"):
        SimParams(
            defect_weight_short=0,
            defect_weight_open=0,
            defect_weight_stuck_p=0,
            defect_weight_stuck_ap=0,
        )

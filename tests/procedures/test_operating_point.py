"""A run's read bias and write pulse applied to the station for its duration, within limits."""

from __future__ import annotations

import numpy as np
import pytest
from sweep_helpers import SimFactory

from labctl.core.errors import SafetyError
from labctl.station import array_ops
from procedures.operating_point import operating_point
from procedures.settings import CharacterisationSettings


def test_read_bias_applies_inside_the_block_and_is_restored(sim_station: SimFactory) -> None:
    sim, station = sim_station(0)
    original = station.config
    station.prober.step_to_die(3, 0)
    station.prober.chuck.move_contact()
    array_ops.write_tile(station, 1, "P")
    nominal = array_ops.read_tile_resistance_ohm(station, 1)
    settings = CharacterisationSettings(read_voltage_V=0.05)
    with operating_point(station, settings):
        assert station.limits.read_voltage_V == 0.05
        low_bias = array_ops.read_tile_resistance_ohm(station, 1)
        assert sim.state.smus["read_smu"].source_voltage_V == 0.05
    assert station.config is original
    # Resistance is V / I at the bias actually applied: P-state cells read the same.
    assert np.median(low_bias) == pytest.approx(np.median(nominal), rel=0.02)


def test_settings_above_the_station_limits_are_refused(sim_station: SimFactory) -> None:
    _sim, station = sim_station(0)
    original = station.config
    with pytest.raises(SafetyError, match=r"write pulse amplitude 1\.5 V exceeds"), \
            operating_point(station, CharacterisationSettings(write_voltage_V=1.5)):
        pass
    assert station.config is original

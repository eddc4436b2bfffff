"""The dry-run time model: datasheet figures, the station's line frequency and read channels,
and the goal (default simulated station: a 36-die wafer in at most 15 minutes; any station at
most 1.5 x its own instrument limit)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from labctl.station.config import SIM_STATION_FILE, load_station_config
from procedures.settings import CharacterisationSettings
from procedures.timing import (
    SMU_MAX_READINGS_PER_S,
    InstrumentTiming,
    estimate_sweep,
)

DEFAULTS = CharacterisationSettings()


def test_reading_time_comes_from_the_datasheet_and_the_mains() -> None:
    at_60 = InstrumentTiming(mains_frequency_Hz=60.0)
    assert at_60.max_readings_per_s == pytest.approx(SMU_MAX_READINGS_PER_S)
    at_50 = InstrumentTiming(mains_frequency_Hz=50.0)
    assert at_50.reading_s(1.0) - at_60.reading_s(1.0) == pytest.approx(1 / 50 - 1 / 60)
    assert at_50.max_readings_per_s < at_60.max_readings_per_s


def test_default_sim_station_measures_a_wafer_within_15_minutes() -> None:
    config = load_station_config(SIM_STATION_FILE)
    timing = InstrumentTiming.for_station(config)
    assert (timing.read_channels, timing.mains_frequency_Hz) == (config.n_read_channels, 50.0)
    estimate = estimate_sweep(36, DEFAULTS, timing=timing)
    assert estimate.total_s <= 15 * 60
    assert estimate.ratio_to_limit <= 1.5


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 8, 16])
@pytest.mark.parametrize("mains_Hz", [50.0, 60.0])
def test_any_station_within_one_and_a_half_times_its_limit(channels: int, mains_Hz: float) -> None:
    """With the default settings (row batching trades speed for live rows: not the default)."""
    timing = InstrumentTiming(mains_frequency_Hz=mains_Hz, read_channels=channels)
    estimate = estimate_sweep(36, DEFAULTS, timing=timing)
    assert 1.0 < estimate.ratio_to_limit <= 1.5


def test_more_channels_and_no_rereads_are_faster() -> None:
    one = estimate_sweep(36, DEFAULTS, timing=InstrumentTiming(read_channels=1))
    two = estimate_sweep(36, DEFAULTS, timing=InstrumentTiming(read_channels=2))
    assert two.total_s < one.total_s and two.limit_s < one.limit_s
    plain = estimate_sweep(36, replace(DEFAULTS, adaptive=False),
                           timing=InstrumentTiming(read_channels=2))
    assert plain.die.rereads_s == 0 and plain.total_s < two.total_s

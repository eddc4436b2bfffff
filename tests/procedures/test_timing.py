"""Dry-run estimator: durations follow from NPLC, cycles, batching and the prober times."""

from __future__ import annotations

import pytest

from labctl.core.geometry import DEFAULT_TILE_SHAPES
from procedures.settings import CharacterisationSettings
from procedures.timing import (
    InstrumentTiming,
    estimate_die,
    estimate_sweep,
    format_duration,
)

CELLS = 196 * 100 + 100 * 10


def test_reading_time_is_nplc_power_line_cycles_plus_trigger_overhead() -> None:
    timing = InstrumentTiming(mains_frequency_Hz=50.0, trigger_overhead_s=0.5e-3)
    assert timing.reading_s(1.0) == pytest.approx(0.0205)
    assert InstrumentTiming(mains_frequency_Hz=60.0, trigger_overhead_s=0.0).reading_s(
        1.0
    ) == pytest.approx(1 / 60)


def test_die_estimate_counts_every_cell_twice_per_cycle() -> None:
    settings = CharacterisationSettings(cycles=3, nplc=1.0)
    timing = InstrumentTiming()
    die = estimate_die(settings, DEFAULT_TILE_SHAPES, timing)
    assert die.readings == 2 * 3 * CELLS
    assert die.pulses == 2 * 3 * CELLS
    assert die.reads_s == pytest.approx(die.readings * timing.reading_s(1.0))
    assert die.prober_s == pytest.approx(
        timing.prober_step_s + timing.contact_s + timing.separate_s
    )
    assert die.total_s > die.reads_s


def test_integration_dominates_and_scales_with_nplc() -> None:
    slow = estimate_die(CharacterisationSettings(nplc=1.0))
    fast = estimate_die(CharacterisationSettings(nplc=0.1))
    assert slow.reads_s / slow.total_s > 0.9
    # Integration time is 10x shorter; overhead keeps the ratio a bit below 10.
    assert 5 < slow.reads_s / fast.reads_s < 10


def test_row_batching_costs_more_commands_than_tile_batching() -> None:
    tile = estimate_die(CharacterisationSettings(batching="tile"))
    row = estimate_die(CharacterisationSettings(batching="row"))
    assert row.commands_s > 10 * tile.commands_s
    assert row.reads_s == tile.reads_s


def test_sweep_is_n_dies_times_one_die() -> None:
    settings = CharacterisationSettings()
    sweep = estimate_sweep(36, settings)
    assert sweep.cells_per_die == CELLS
    assert sweep.total_s == pytest.approx(36 * estimate_die(settings).total_s)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(42.04, "42.0 s"), (725, "12 min 05 s"), (3 * 3600 + 7 * 60 + 10, "3 h 07 min"),
     (float("inf"), "unknown")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text

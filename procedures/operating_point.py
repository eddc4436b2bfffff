"""Apply a run's read bias and write pulse to the station for the duration of the run.

The batched operations in :mod:`labctl.station.array_ops` take their read bias from the
station's limits (``read_voltage_V``, also used to turn currents into resistances). A run with
its own read bias therefore swaps in a copy of the station configuration whose operating
points are the run's, and restores the original afterwards. The hard ``max_*`` limits are
never changed: a run that asks for more is refused before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from labctl.core.errors import SafetyError
from labctl.station.config import Limits
from labctl.station.station import Station
from procedures.settings import CharacterisationSettings


def check_against_limits(
    limits: Limits, settings: CharacterisationSettings, station_name: str
) -> None:
    """SafetyError if the settings exceed the station's hard limits."""
    for what, value_V, limit_V in (
        ("read bias", settings.read_voltage_V, limits.max_read_voltage_V),
        ("write pulse amplitude", settings.write_voltage_V, limits.max_write_voltage_V),
    ):
        if value_V > limit_V:
            raise SafetyError(
                f"{what} {value_V:g} V exceeds station {station_name!r} limit of {limit_V:g} V; "
                "nothing was sent"
            )


@contextmanager
def operating_point(station: Station, settings: CharacterisationSettings) -> Iterator[None]:
    """Within the block the station's read/write operating points are the run's settings."""
    check_against_limits(station.limits, settings, station.name)
    original = station.config
    limits = replace(
        original.limits,
        read_voltage_V=settings.read_voltage_V,
        write_voltage_V=settings.write_voltage_V,
        write_width_s=settings.write_width_s,
    )
    station.config = replace(original, limits=limits)
    try:
        yield
    finally:
        station.config = original

"""Fixtures for the procedure tests: an embedded simulated station."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sweep_helpers import SimFactory

from labctl.sim.embedded import SimStationServer, start_sim_station
from labctl.station.config import sim_station_config
from labctl.station.station import Station


@pytest.fixture
def sim_station() -> Iterator[SimFactory]:
    """Factory: start a simulated station for a seed and connect a Station to it."""
    opened: list[tuple[SimStationServer, Station]] = []

    def make(seed: int) -> tuple[SimStationServer, Station]:
        sim = start_sim_station(seed=seed)
        station = Station.connect(sim_station_config(sim.resources))
        opened.append((sim, station))
        return sim, station

    yield make
    for sim, station in opened:
        station.close()
        sim.stop()

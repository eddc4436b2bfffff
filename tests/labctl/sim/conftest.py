"""Fixtures for the simulated station's servers: a running station, raw-socket and VISA clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import pyvisa
from sim_clients import RawClient

from labctl.sim.embedded import SimStationServer, start_sim_station
from labctl.sim.params import SimParams


@pytest.fixture
def station() -> Iterator[SimStationServer]:
    """A simulated station (seed 3, no gross gate short anywhere) on free ports."""
    with start_sim_station(seed=3, params=SimParams(gross_short_probability=0.0)) as sim:
        yield sim


@pytest.fixture
def raw(station: SimStationServer) -> Iterator[dict[str, RawClient]]:
    """One raw client per role of ``station``."""
    clients = {role: RawClient(resource) for role, resource in station.resources.items()}
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture(scope="session")
def visa_rm() -> Iterator[pyvisa.ResourceManager]:
    rm = pyvisa.ResourceManager("@py")
    yield rm
    rm.close()


VISA_OPTIONS = {"read_termination": "\n", "write_termination": "\n", "timeout": 5000}


@pytest.fixture
def visa_open(visa_rm: pyvisa.ResourceManager) -> Iterator[Callable[[str], Any]]:
    """Open a resource through pyvisa-py as a driver would; closed at teardown."""
    opened: list[Any] = []

    def open_resource(resource: str) -> Any:
        instrument = visa_rm.open_resource(resource, **VISA_OPTIONS)
        opened.append(instrument)
        return instrument

    yield open_resource
    for instrument in opened:
        instrument.close()


@pytest.fixture
def pymeasure_open() -> Iterator[Callable[..., Any]]:
    """Open a PyMeasure instrument class (unmodified) on a resource via pyvisa-py."""
    opened: list[Any] = []

    def open_instrument(cls: type, resource: str) -> Any:
        instrument = cls(resource, visa_library="@py", **VISA_OPTIONS)
        opened.append(instrument)
        return instrument

    yield open_instrument
    for instrument in opened:
        instrument.adapter.close()

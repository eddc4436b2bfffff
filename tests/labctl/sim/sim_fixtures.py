"""Clients and fixtures for the simulated station's server tests.

Test modules import the fixtures they use from here (no conftest.py: other test folders import
their own ``conftest`` module by name, which a second conftest.py would shadow).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import pyvisa

from labctl.sim.embedded import SimStationServer, start_sim_station
from labctl.sim.params import SimParams


class RawClient:
    """A bare TCP client speaking the line protocol, for byte-level tests."""

    def __init__(self, resource: str, timeout_s: float = 5.0) -> None:
        _, host, port, _ = resource.split("::")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        self._pending = b""

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def write(self, line: str) -> None:
        self.send(line + "\n")

    def readline(self) -> str:
        while b"\n" not in self._pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode()

    def command(self, line: str) -> None:
        """Send SCPI commands and wait until they are executed (``*OPC?``).

        Connections to different instruments are not ordered with respect to each other, as
        with real instruments: without this a reading could overtake a routing command.
        """
        assert self.query(line + ";*OPC?") == "1", line

    def query(self, line: str) -> str:
        self.write(line)
        return self.readline()

    def expect_silence(self, timeout_s: float = 0.3) -> None:
        """Assert that no reply arrives (a command, or a failed query)."""
        self.sock.settimeout(timeout_s)
        try:
            with pytest.raises(socket.timeout):
                self.readline()
        finally:
            self.sock.settimeout(5.0)

    def close(self) -> None:
        self.sock.close()


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

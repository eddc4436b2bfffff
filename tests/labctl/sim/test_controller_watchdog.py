"""The array controller's watchdog (docs/array-controller-protocol.md, "Watchdog"): armed, fed
by any line, and on expiry every line de-routed; the driver sends it through its allow-list."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from labctl.core.errors import SafetyError
from labctl.core.roles import Role
from labctl.sim.embedded import SimStationServer, start_sim_station
from labctl.station.config import sim_station_config
from labctl.station.station import Station


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.file = self.sock.makefile("rw")

    def send(self, line: str) -> None:
        self.file.write(line + "\n")
        self.file.flush()

    def ask(self, line: str) -> str:
        self.send(line)
        return self.file.readline().strip()


@pytest.fixture
def sim() -> Iterator[SimStationServer]:
    with start_sim_station(seed=1) as served:
        yield served


def test_expiry_deroutes_and_is_counted(sim: SimStationServer) -> None:
    client = Client(sim.servers[Role.CONTROLLER].port)
    client.send("ROUT ON;INP:VOLT 0.1;WDOG 0.2")
    assert client.ask("ROUT?;WDOG?") == "1;2.000000E-01"
    time.sleep(0.6)  # a quiet line: nothing feeds it
    assert client.ask("ROUT?;WDOG:TRIP?;WDOG?") == "0;1;0.000000E+00"  # disarmed after
    assert client.ask("SYST:ERR?") == '0,"No error"'


def test_any_line_feeds_it_and_zero_disarms_it(sim: SimStationServer) -> None:
    client = Client(sim.servers[Role.CONTROLLER].port)
    client.send("ROUT ON;WDOG 0.3")
    for _ in range(8):  # 0.8 s of traffic, each line within the timeout of the last
        time.sleep(0.1)
        client.send("WDOG:KICK")
    assert client.ask("ROUT?;WDOG:TRIP?") == "1;0"
    client.send("WDOG 0")
    time.sleep(0.5)
    assert client.ask("ROUT?;WDOG:TRIP?") == "1;0"


def test_the_driver_arms_it_within_the_allow_list(sim: SimStationServer) -> None:
    with Station.connect(sim_station_config(sim.resources)) as station:
        station.controller.arm_watchdog(5.0)
        assert station.controller.ask("WDOG?").strip() == "5.000000E+00"
        assert station.controller.watchdog_trips == 0
        with pytest.raises((SafetyError, ValueError)):
            station.controller.arm_watchdog(1e6)
        with pytest.raises(SafetyError):
            station.controller.write("WDOG 99999")

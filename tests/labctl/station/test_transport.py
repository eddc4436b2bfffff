"""Station.connect over real loopback sockets: unreachable and silent instruments."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest
from line_servers import free_port, line_server, resource

from labctl.core.errors import InstrumentError
from labctl.station.config import (
    ROLE_DRIVERS,
    SIM_STATION_FILE,
    InstrumentConfig,
    StationConfig,
    load_station_config,
)
from labctl.station.station import Station
from labctl.station.transport import RoleAdapter

IDN = {
    "prober": "FormFactor,Velox,LINE,1.0",
    "read_smu": "KEITHLEY INSTRUMENTS,MODEL 2450,LINE1,1.0",
    "gate_smu": "KEITHLEY INSTRUMENTS,MODEL 2450,LINE2,1.0",
    "controller": "LABCTL,MTJ-ARRAY-CTRL,LINE,1.0",
}


def _config(resources: dict[str, str], timeout_s: float = 0.3) -> StationConfig:
    base = load_station_config(SIM_STATION_FILE)
    instruments = {
        role: InstrumentConfig(role, ROLE_DRIVERS[role], resources[role], timeout_s)
        for role in ROLE_DRIVERS
    }
    return replace(base, instruments=instruments, read_channels=())


def test_connect_and_identify_over_tcp() -> None:
    with (
        line_server({"*IDN?": IDN["prober"]}) as p0,
        line_server({"*IDN?": IDN["read_smu"]}) as p1,
        line_server({"*IDN?": IDN["gate_smu"]}) as p2,
        line_server({"*IDN?": IDN["controller"]}) as p3,
    ):
        ports = dict(zip(ROLE_DRIVERS, (p0, p1, p2, p3), strict=True))
        station = Station.connect(_config({role: resource(p) for role, p in ports.items()}))
        try:
            assert station.identify() == IDN
            assert station.read_smu.adapter.connection.timeout == 300
            assert station.read_smu.adapter.connection.read_termination == "\n"
            assert station.controller.adapter.connection.write_termination == "\n"
            connection = station.read_smu.adapter.connection
            sock = connection.visalib.sessions[connection.session].interface
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            station.close()


def test_unreachable_resource_names_role_and_resource() -> None:
    with line_server({"*IDN?": IDN["prober"]}) as port:
        dead = resource(free_port())
        resources = {role: resource(port) for role in ROLE_DRIVERS} | {"gate_smu": dead}
        with pytest.raises(InstrumentError) as info:
            Station.connect(_config(resources))
    message = str(info.value)
    assert message.startswith(f"gate_smu ({dead}): ")
    assert "ConnectionRefusedError" in message


def test_silent_instrument_times_out_with_role_and_resource() -> None:
    with line_server(None) as silent:
        resources = {role: resource(silent) for role in ROLE_DRIVERS}
        with pytest.raises(InstrumentError, match=r"^prober \(TCPIP::127.0.0.1::\d+::SOCKET\): "
                                                  r"reading the reply: timed out after 0.3 s"):
            Station.connect(_config(resources))


def test_malformed_resource_string() -> None:
    with pytest.raises(InstrumentError, match=r"^read_smu \(nonsense::\): cannot open: "):
        RoleAdapter("read_smu", "nonsense::", "@py", timeout=100)

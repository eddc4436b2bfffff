"""Every known way around the limits, tried against the simulated station from a connected
labctl: each is refused with SafetyError before a byte is sent, through the driver and through
the transport alike, and the emulated instruments' state (read from the simulator's own state
and over a separate socket, not from labctl) is exactly what it was before."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from labctl.core.errors import SafetyError
from labctl.core.roles import Role
from labctl.sim.embedded import SimStationServer, start_sim_station
from labctl.station.config import sim_station_config
from labctl.station.station import Station

#: (role, message) pairs that must never reach an instrument (read limit 0.2 V, gate 1.8 V,
#: write 1.2 V, compliance 10 mA in data/stations/sim.toml).
BYPASSES: list[tuple[Role, str]] = [
    (Role.READ_SMU, "*CLS\n:SOUR:VOLT:LEV 5"),  # the newline would start a second command
    (Role.READ_SMU, "*CLS\r\n:SOUR:VOLT:LEV 5"),
    (Role.READ_SMU, ":SOUR:VOLT:LEV 0.1\x00:SOUR:VOLT:LEV 5"),
    (Role.READ_SMU, ":SOUR:VOLT:LEV\t5"),
    (Role.READ_SMU, ":SOUR:VOLT:LEV 0.1\x7f"),
    (Role.READ_SMU, ":SOUR:VOLT:LEV 0.1\u00a0"),
    (Role.READ_SMU, ":SOUR:LIST:VOLT 0.1,5"),
    (Role.READ_SMU, ":SOUR:LIST:VOLT:APP 5"),
    (Role.READ_SMU, ":SOUR:SWE:VOLT:LIN 0,5,11"),
    (Role.READ_SMU, ":SOUR:SWE:VOLT:LIN:STEP 0,0.1,0.05"),
    (Role.READ_SMU, ":SOUR:SWE:VOLT:LIST 1"),
    (Role.READ_SMU, ":SOUR:SWE:CURR:LIN 0,1e-3,11"),
    (Role.READ_SMU, ":SCR:RUN"),
    (Role.READ_SMU, ':TRIG:LOAD "ConfigList", "x", "y"'),
    (Role.READ_SMU, ':TRIG:LOAD "DurationLoop", 10'),
    (Role.READ_SMU, ":SOUR:FUNC CURR"),
    (Role.READ_SMU, "*RCL 1"),
    (Role.READ_SMU, "*TST?"),
    (Role.READ_SMU, ":SOUR:VOLT:RANG 2;LEV 5"),
    (Role.READ_SMU, ":SOUR:VOLT:RANG 2;LEV 0.1"),  # relative: LEV at the root is not allowed
    (Role.READ_SMU, ":SOUR:VOLT:LEV MAX"),
    (Role.READ_SMU, ":SOUR:VOLT:LEV 0.25"),
    (Role.READ_SMU, ":SOUR:VOLT:LEV 5V"),
    (Role.READ_SMU, ":SOUR:VOLT:ILIM 1.05"),
    (Role.READ_SMU, ":SOUR:VOLT:LEV 0.1;:SOUR:VOLT:ILIM 0.02"),  # a good part does not help
    (Role.GATE_SMU, ":SOUR:VOLT:LEV 150"),
    (Role.GATE_SMU, ":SOURCE1:VOLTAGE:LEVEL:IMMEDIATE:AMPLITUDE 1.9"),
    (Role.CONTROLLER, "PULS:AMPL 5"),
    (Role.CONTROLLER, "DESEL\nPULS:AMPL 1.9"),
    (Role.CONTROLLER, "PULS:WIDT 1e-3"),
    (Role.CONTROLLER, "INP:VOLT 0.5"),
    (Role.CONTROLLER, "ROUT ON;SCAN:MODE TILE;*RST;PULS:AMPL 2"),
    (Role.CONTROLLER, "WDOG:OFF"),
    (Role.PROBER, "MoveChuck 1000 1000 R Y 100"),
    (Role.PROBER, "SetChuckIndex 1 1 Y"),
    (Role.PROBER, "StepNextDie 1 2\nMoveChuckContact 100"),
]


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[SimStationServer, Station]]:
    """A connected station with the read SMU on at 0.1 V, the gate SMU at 1.2 V, a cell
    selected and routed and a 0.8 V pulse amplitude set: the state every bypass must leave."""
    with start_sim_station(seed=3) as sim:
        station = Station.connect(sim_station_config(sim.resources))
        try:
            limits = station.limits
            for smu, level_V in ((station.read_smu, limits.read_voltage_V),
                                 (station.gate_smu, limits.gate_voltage_V)):
                smu.configure_voltage_source(level_V, limits.compliance_current_A)
                smu.enable_source()
            station.controller.tile = 0
            station.controller.pulse_amplitude = limits.write_voltage_V
            station.controller.routed = True
            for driver in station.instruments().values():
                driver.ask("*IDN?")  # answered only after every earlier command was processed
            yield sim, station
        finally:
            station.safe_state()
            station.close()


def _snapshot(sim: SimStationServer) -> str:
    state = sim.state
    parts: list[Any] = [dataclasses.asdict(state.prober), dataclasses.asdict(state.controller)]
    parts += [dataclasses.asdict(smu) for _, smu in sorted(state.smus.items())]
    return repr(parts)


def _ask_over_own_socket(sim: SimStationServer, role: Role, query: str) -> str:
    """Ask the emulated instrument directly (a second client, not labctl)."""
    host, port = sim.resources[role].split("::")[1:3]
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(query.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(4096)
            assert chunk, "connection closed"
            reply += chunk
    return reply.decode().strip()


@pytest.mark.parametrize("path", ["driver", "transport"])
@pytest.mark.parametrize(("role", "message"), BYPASSES)
def test_every_bypass_is_refused_with_the_state_unchanged(
    live: tuple[SimStationServer, Station], role: Role, message: str, path: str
) -> None:
    sim, station = live
    driver = station.instruments()[role]
    received: list[str] = []
    instrument = sim.servers[role].instrument
    original = instrument.handle_line

    def counting(line: str) -> str | None:
        received.append(line)
        return original(line)

    before = _snapshot(sim)
    instrument.handle_line = counting  # type: ignore[method-assign]
    try:
        with pytest.raises(SafetyError, match="nothing was sent"):
            (driver.write if path == "driver" else driver.adapter.write)(message)
    finally:
        del instrument.handle_line
    assert received == []
    assert _snapshot(sim) == before
    assert _ask_over_own_socket(sim, Role.READ_SMU, ":OUTP?;:SOUR:VOLT?") == "1;1.000000E-01"
    assert _ask_over_own_socket(sim, Role.GATE_SMU, ":SOUR:VOLT?") == "1.200000E+00"


def test_labctl_still_drives_the_station_around_the_refusals() -> None:
    with start_sim_station(seed=4) as sim:
        station = Station.connect(sim_station_config(sim.resources))
        try:
            with pytest.raises(SafetyError):
                station.read_smu.write(":SOUR:LIST:VOLT 0.1,0.25")
            station.read_smu.write(":SOUR:LIST:VOLT 0.1,0.2,-0.2")  # within the limit: allowed
            assert station.read_smu.ask(":SOUR:LIST:VOLT?").count(",") == 2
            station.controller.write("PULS:WIDT 1e-7;:PULS:AMPL 0.9")
            assert station.controller.pulse_amplitude == pytest.approx(0.9)  # (synchronises)
            assert sim.state.controller.pulse_amplitude_V == pytest.approx(0.9)
            station.safe_state()
            assert not sim.state.smus[Role.READ_SMU].output_on
            assert not sim.state.controller.routed
        finally:
            station.close()

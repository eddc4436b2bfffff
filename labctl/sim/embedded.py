"""Start the simulated station's four instrument servers in background threads.

Tests, ``--sim`` runs and ``labctl sim serve`` all go through :func:`start_sim_station`; the
returned :class:`SimStationServer` names each role's VISA resource string and stops everything
cleanly (listening sockets and open connections closed, threads joined). ``faults`` (a SPEC, see
:mod:`labctl.sim.faults` and docs/reliability.md) makes the instruments misbehave as real ones
do; :meth:`SimStationServer.fault_counts` tells what was injected.
"""

from __future__ import annotations

import errno
import threading
from functools import partial
from types import TracebackType

from labctl.core.errors import LabctlError
from labctl.core.roles import MAX_READ_CHANNELS, ROLES, Role, read_channel_key
from labctl.sim.faults import FaultCounts, FaultSpec, InstrumentFaults, parse_fault_spec
from labctl.sim.params import SimParams
from labctl.sim.servers.array_controller import ArrayControllerInstrument
from labctl.sim.servers.base import LineInstrument, LineServer
from labctl.sim.servers.keithley2450 import Keithley2450Instrument
from labctl.sim.servers.velox import VeloxInstrument
from labctl.sim.state import SmuState, StationState
from labctl.sim.wafer import VirtualWafer


class ReadChannelInstrument(Keithley2450Instrument):
    """An extra read channel: one more emulated 2450 in the read role, whose readings come from
    its own sense group of bit lines (``SENS:GRO``, docs/array-controller-protocol.md)."""

    def __init__(self, state: StationState, channel: int, serial: str) -> None:
        super().__init__(state, Role.READ_SMU, serial)
        self.channel = channel
        self._measure = partial(state.measure_read_current_A, channel=channel)

    @property
    def settings(self) -> SmuState:
        return self.state.read_channel_smu(self.channel)

    def reset(self) -> None:
        """*RST of this channel only (the base class would reset the read SMU's settings)."""
        primary = self.state.smus[Role.READ_SMU]
        super().reset()
        self.state.smus[Role.READ_SMU] = primary
        self.state.extra_read_smus[self.channel] = SmuState()


def visa_resource(host: str, port: int) -> str:
    """The pyvisa-py resource string of a raw-socket instrument."""
    return f"TCPIP::{host}::{port}::SOCKET"


class SimStationServer:
    """The running simulated station: resources, wafer and shared state; stop() ends it."""

    def __init__(
        self,
        wafer: VirtualWafer,
        state: StationState,
        servers: dict[Role, LineServer],
        host: str,
        faults: FaultSpec | None = None,
        read_channel_servers: dict[str, LineServer] | None = None,
    ) -> None:
        self.wafer = wafer
        self.state = state
        self.servers = servers
        self.host = host
        #: The injected faults (an empty spec when the station behaves perfectly).
        self.faults = faults or FaultSpec()
        visa_host = "127.0.0.1" if host in ("", "0.0.0.0") else host
        #: role -> VISA resource string (``TCPIP::<host>::<port>::SOCKET``).
        self.resources: dict[Role, str] = {
            role: visa_resource(visa_host, server.port) for role, server in servers.items()
        }
        #: Extra read channels (``read_smu_2`` ...) -> their servers and resource strings.
        self.read_channel_servers = dict(read_channel_servers or {})
        self.read_channel_resources: dict[str, str] = {
            key: visa_resource(visa_host, server.port)
            for key, server in self.read_channel_servers.items()
        }

    def fault_counts(self) -> dict[Role, FaultCounts]:
        """Role -> lines, replies, connections, acquisitions and faults injected so far."""
        return {
            role: server.faults.counts if server.faults is not None else FaultCounts()
            for role, server in self.servers.items()
        }

    def stop(self) -> None:
        """Stop all servers, in parallel (idempotent)."""
        every = [*self.servers.values(), *self.read_channel_servers.values()]
        stoppers = [threading.Thread(target=server.stop) for server in every]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()

    def __enter__(self) -> SimStationServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _instruments(state: StationState, seed: int) -> dict[Role, LineInstrument]:
    """Role -> emulated instrument, in port order (:data:`labctl.core.roles.ROLES`)."""
    return {
        Role.PROBER: VeloxInstrument(state, serial=f"SIM{seed:04d}"),
        Role.READ_SMU: Keithley2450Instrument(state, Role.READ_SMU, serial=f"SIM{seed:04d}1"),
        Role.GATE_SMU: Keithley2450Instrument(state, Role.GATE_SMU, serial=f"SIM{seed:04d}2"),
        Role.CONTROLLER: ArrayControllerInstrument(state, serial=f"SIM{seed:04d}"),
    }


def start_sim_station(
    seed: int = 0,
    params: SimParams | None = None,
    port_base: int | None = None,
    host: str = "127.0.0.1",
    faults: FaultSpec | str | None = None,
    read_channels: int = 1,
) -> SimStationServer:
    """Serve the four instruments of a virtual wafer built from ``seed`` and ``params``.

    Ports are free ones chosen by the OS, or ``port_base`` ... ``port_base + 3`` in the order of
    :data:`labctl.core.roles.ROLES`. ``faults``: a fault SPEC (text or parsed) injected into the
    instruments; its seed defaults to ``seed``. ``read_channels`` > 1 also serves the extra read
    channels ``read_smu_2`` ... (2450s, each sensing its own group of bit lines) on the next
    ports. Raises :class:`LabctlError` when a port cannot be bound and ConfigError for a bad
    SPEC (before anything is started).
    """
    if not 1 <= read_channels <= MAX_READ_CHANNELS:
        raise LabctlError(f"read channels {read_channels} out of range 1 ... {MAX_READ_CHANNELS}")
    n_ports = len(ROLES) + read_channels - 1
    if port_base is not None and not 1 <= port_base <= 65535 - n_ports + 1:
        raise LabctlError(f"port base {port_base} out of range 1 ... {65536 - n_ports}")
    spec = parse_fault_spec(faults) if isinstance(faults, str) else faults
    wafer = VirtualWafer(seed, params)
    state = StationState(wafer)
    servers: dict[Role, LineServer] = {}
    extras: dict[str, LineServer] = {}

    def serve(name: str, port: int, instrument: LineInstrument,
              injector: InstrumentFaults | None) -> LineServer:
        try:
            server = LineServer(host, port, instrument, name=name, faults=injector)
        except OSError as exc:
            reason = "port in use" if exc.errno == errno.EADDRINUSE else exc.strerror or exc
            raise LabctlError(f"cannot serve the {name} on {host}:{port}: {reason}") from exc
        server.start()
        return server

    try:
        for i, (role, instrument) in enumerate(_instruments(state, seed).items()):
            port = 0 if port_base is None else port_base + i
            injector = _injector(spec, role, seed)
            if isinstance(instrument, Keithley2450Instrument):
                instrument.faults = injector
            servers[role] = serve(role, port, instrument, injector)
        for channel in range(1, read_channels):
            key = read_channel_key(channel)
            port = 0 if port_base is None else port_base + len(ROLES) + channel - 1
            extras[key] = serve(key, port, ReadChannelInstrument(
                state, channel, serial=f"SIM{seed:04d}R{channel + 1}"), None)
    except BaseException:
        for server in [*servers.values(), *extras.values()]:
            server.stop()
        raise
    return SimStationServer(wafer, state, servers, host, spec, extras)


def _injector(spec: FaultSpec | None, role: Role, seed: int) -> InstrumentFaults | None:
    if spec is None or spec.empty:
        return None
    return InstrumentFaults.for_role(spec, role, seed)

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
from types import TracebackType

from labctl.core.errors import LabctlError
from labctl.core.roles import ROLES, Role
from labctl.sim.faults import FaultCounts, FaultSpec, InstrumentFaults, parse_fault_spec
from labctl.sim.params import SimParams
from labctl.sim.servers.array_controller import ArrayControllerInstrument
from labctl.sim.servers.base import LineInstrument, LineServer
from labctl.sim.servers.keithley2450 import Keithley2450Instrument
from labctl.sim.servers.velox import VeloxInstrument
from labctl.sim.state import StationState
from labctl.sim.wafer import VirtualWafer


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

    def fault_counts(self) -> dict[Role, FaultCounts]:
        """Role -> lines, replies, connections, acquisitions and faults injected so far."""
        return {
            role: server.faults.counts if server.faults is not None else FaultCounts()
            for role, server in self.servers.items()
        }

    def stop(self) -> None:
        """Stop all servers, in parallel (idempotent)."""
        stoppers = [threading.Thread(target=server.stop) for server in self.servers.values()]
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
) -> SimStationServer:
    """Serve the four instruments of a virtual wafer built from ``seed`` and ``params``.

    Ports are free ones chosen by the OS, or ``port_base`` ... ``port_base + 3`` in the order of
    :data:`labctl.core.roles.ROLES`. ``faults``: a fault SPEC (text or parsed) injected into the
    instruments; its seed defaults to ``seed``. Raises :class:`LabctlError` when a port cannot be
    bound and ConfigError for a bad SPEC (before anything is started).
    """
    if port_base is not None and not 1 <= port_base <= 65535 - len(ROLES) + 1:
        raise LabctlError(f"port base {port_base} out of range 1 ... {65536 - len(ROLES)}")
    spec = parse_fault_spec(faults) if isinstance(faults, str) else faults
    wafer = VirtualWafer(seed, params)
    state = StationState(wafer)
    servers: dict[Role, LineServer] = {}
    try:
        for i, (role, instrument) in enumerate(_instruments(state, seed).items()):
            port = 0 if port_base is None else port_base + i
            injector = _injector(spec, role, seed)
            if isinstance(instrument, Keithley2450Instrument):
                instrument.faults = injector
            try:
                server = LineServer(host, port, instrument, name=role, faults=injector)
            except OSError as exc:
                reason = "port in use" if exc.errno == errno.EADDRINUSE else exc.strerror or exc
                raise LabctlError(f"cannot serve the {role} on {host}:{port}: {reason}") from exc
            servers[role] = server
            server.start()
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return SimStationServer(wafer, state, servers, host, spec)


def _injector(spec: FaultSpec | None, role: Role, seed: int) -> InstrumentFaults | None:
    if spec is None or spec.empty:
        return None
    return InstrumentFaults.for_role(spec, role, seed)

"""start_sim_station and `labctl sim serve`: resources, ports, clean stop."""

# ruff: noqa: F811  (pytest fixtures imported from sim_fixtures are parameters)

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading

import pytest
from sim_fixtures import RawClient, visa_open, visa_rm  # noqa: F401 (fixtures)

from labctl.cli.main import main
from labctl.core.errors import LabctlError
from labctl.core.roles import ROLES
from labctl.sim.embedded import start_sim_station
from labctl.sim.servers.base import LineServer


def free_port_base(count: int = 4) -> int:
    """A base port with ``count`` consecutive free ports (probed by binding)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no block of free ports found")


def test_resources_name_every_role_and_answer_identification(visa_open):
    with start_sim_station(seed=9) as station:
        assert list(station.resources) == list(ROLES)
        ports = set()
        for role, resource in station.resources.items():
            prefix, host, port, suffix = resource.split("::")
            assert (prefix, host, suffix) == ("TCPIP", "127.0.0.1", "SOCKET")
            ports.add(int(port))
            assert visa_open(resource).query("*IDN?"), role
        assert len(ports) == 4
        assert station.wafer.seed == 9 and station.state.wafer is station.wafer


def test_port_base_gives_consecutive_ports():
    base = free_port_base()
    with start_sim_station(port_base=base) as station:
        assert [int(r.split("::")[2]) for r in station.resources.values()] == [
            base,
            base + 1,
            base + 2,
            base + 3,
        ]


def test_port_in_use_is_a_clear_error_and_nothing_keeps_running():
    before = set(threading.enumerate())
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(LabctlError, match="port in use"):
            start_sim_station(port_base=port - 2)  # the gate SMU's port is taken
    assert set(threading.enumerate()) <= before


def test_bad_port_base_is_refused():
    with pytest.raises(LabctlError, match="out of range"):
        start_sim_station(port_base=65534)


def test_stop_joins_threads_even_with_clients_connected():
    before = set(threading.enumerate())
    station = start_sim_station()
    clients = [RawClient(resource) for resource in station.resources.values()]
    assert clients[1].query("*OPC?") == "1"
    with station:
        pass
    station.stop()  # idempotent
    assert set(threading.enumerate()) <= before
    assert all(isinstance(server, LineServer) for server in station.servers.values())
    for client in clients:
        client.close()


def test_cli_port_in_use_prints_one_line(capsys):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        assert main(["sim", "serve", "--port-base", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot serve the prober" in err


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


def test_cli_serve_prints_resources_and_stops_on_sigint():
    base = free_port_base(7)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "labctl.cli.main",
            "sim",
            "serve",
            "--seed",
            "2",
            "--port-base",
            str(base),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    try:
        printed = [lines.get(timeout=60) for _ in range(8)]
        resources = [line.split()[1] for line in printed[1:]]
        roles = [line.split()[0] for line in printed[1:]]
        # The four roles, then the extra read channels of data/stations/sim.toml.
        assert roles == [*ROLES, "read_smu_2", "read_smu_3", "read_smu_4"]
        assert resources == [f"TCPIP::127.0.0.1::{base + i}::SOCKET" for i in range(7)]
        client = RawClient(resources[0])
        assert client.query("*IDN?").startswith("FormFactor")
        client.close()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        reader.join(timeout=10)
        rest = []
        while not lines.empty():
            rest.append(lines.get())
        assert rest == ["simulated station stopped"]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

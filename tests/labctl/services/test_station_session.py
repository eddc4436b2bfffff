"""Station sessions from outside: a `labctl tour` child process on a simulator served by this
test process is stopped by each stop signal (and kill -9) mid-run, and the simulated
instruments then read safe; a second process on a held station is refused with one line naming
the holder and the instruments see no byte from it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labctl.core.roles import Role
from labctl.services.station_lock import StationLock, lock_dir
from labctl.services.station_session import SAFE_MARK, station_session
from labctl.services.station_source import StationSource
from labctl.sim.embedded import SimStationServer, start_sim_station
from labctl.station.config import load_station_config
from labctl.testing.station_files import write_station_file

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

pytestmark = pytest.mark.skipif(fcntl is None, reason="POSIX signals and flock")

#: How long to wait for the station to read safe (a bound against hanging, not a measurement:
#: benchmarks/reliability_exits.py measures the time).
SAFE_WAIT_s = 60.0


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SimStationServer,
                                                                              Path]]:
    """A simulated station served by this process, and a station file naming it."""
    monkeypatch.setenv("LABCTL_LOCK_DIR", str(tmp_path / "locks"))
    with start_sim_station(seed=2) as sim:
        yield sim, write_station_file(tmp_path / "station.toml", sim.resources)


def safe(sim: SimStationServer) -> bool:
    state = sim.state
    with state.lock:
        smus = [state.smus[Role.READ_SMU], state.smus[Role.GATE_SMU]]
        return (not any(s.output_on or s.source_voltage_V != 0.0 for s in smus)
                and not state.controller.routed and state.controller.input_bits is None
                and not state.in_contact)


def live(sim: SimStationServer) -> bool:
    state = sim.state
    with state.lock:
        return (state.smus[Role.READ_SMU].output_on or state.controller.routed
                or state.in_contact)


def tour(station_file: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "labctl.cli.main", "tour", "--station", str(station_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for(condition: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                                 signal.SIGKILL], ids=lambda s: s.name)
def test_every_stop_signal_leaves_the_station_safe(
    served: tuple[SimStationServer, Path], sig: signal.Signals
) -> None:
    sim, station_file = served
    child = tour(station_file)
    try:
        assert wait_for(lambda: live(sim), 30.0), "the tour never switched the station on"
        child.send_signal(sig)
        assert wait_for(lambda: safe(sim), SAFE_WAIT_s), "station not made safe"
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    if sig is signal.SIGKILL:
        assert child.returncode == -signal.SIGKILL  # the guard made it safe
    else:
        assert child.returncode == 130
        assert SAFE_MARK in err  # confirmed by read-back, and said so


def test_a_second_process_is_refused_and_sends_nothing(
    served: tuple[SimStationServer, Path]
) -> None:
    sim, station_file = served
    connections: dict[Role, int] = dict.fromkeys(sim.servers, 0)
    for role, server in sim.servers.items():
        register = server.register_client

        def counting(client: object, _role: Role = role, _register: object = register) -> None:
            connections[_role] += 1
            _register(client)  # type: ignore[operator]

        server.register_client = counting  # type: ignore[method-assign]
    with StationLock(load_station_config(station_file), "test holder"):
        done = subprocess.run(
            [sys.executable, "-m", "labctl.cli.main", "tour", "--station", str(station_file)],
            capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "station in use" in lines[0] and f"pid {os.getpid()}" in lines[0]
    assert "test holder" in lines[0] and "nothing was sent" in lines[0]
    assert connections == dict.fromkeys(sim.servers, 0)


def test_the_lock_file_cannot_be_removed_while_held(
    served: tuple[SimStationServer, Path]
) -> None:
    _, station_file = served
    with StationLock(load_station_config(station_file), "test holder") as lock:
        for path in lock.paths:
            path.unlink()  # by hand, while held
        code = ("from labctl.services.station_lock import StationLock\n"
                "from labctl.station.config import load_station_config\n"
                f"StationLock(load_station_config({str(station_file)!r}), 'second').acquire()\n")
        second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                timeout=60)
        assert second.returncode != 0 and "StationBusy" in second.stderr
        assert lock.verify()  # the holder puts its lock file back
        assert all(path.exists() for path in lock.paths)
    assert sorted(p.suffix for p in lock_dir().iterdir()) == [".lock"] * 4


def test_a_session_on_the_embedded_simulator_ends_safe_and_released(tmp_path: Path,
                                                                    monkeypatch:
                                                                    pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABCTL_LOCK_DIR", str(tmp_path / "locks"))
    source = StationSource.simulator(1)
    with station_session(source, "test") as station:
        station.ensure_bias()
        assert station.read_smu.source_enabled
        config = station.config
    with StationLock(config, "after"):  # released: a new owner may take it
        pass

"""The line server: framing, robustness against bad clients, clean shutdown."""

from __future__ import annotations

import socket
import threading

import pytest
from sim_fixtures import RawClient

from labctl.sim.servers.base import MAX_LINE_BYTES, LineInstrument, LineServer


class EchoInstrument(LineInstrument):
    """Replies ``echo:<line>``; ``boom`` raises; ``quiet`` replies nothing."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.lines: list[str] = []
        self.overlong = 0

    def handle_line(self, line: str) -> str | None:
        self.lines.append(line)
        if line == "boom":
            raise RuntimeError("emulator bug")
        if line == "quiet" or not line:
            return None
        return f"echo:{line}"

    def handle_overlong_line(self) -> str | None:
        self.overlong += 1
        return "too long"


@pytest.fixture
def echo() -> tuple[LineServer, EchoInstrument]:
    instrument = EchoInstrument()
    server = LineServer("127.0.0.1", 0, instrument, name="echo")
    server.start()
    yield server, instrument
    server.stop()


def _client(server: LineServer) -> RawClient:
    return RawClient(f"TCPIP::127.0.0.1::{server.port}::SOCKET")


def test_lines_split_across_and_within_packets_are_answered_in_order(echo):
    server, _ = echo
    client = _client(server)
    client.send(b"fir")
    client.send(b"st\nsecond\r\nthird\n")
    assert [client.readline() for _ in range(3)] == ["echo:first", "echo:second", "echo:third"]
    client.close()


def test_empty_lines_and_silent_commands_send_nothing(echo):
    server, instrument = echo
    client = _client(server)
    client.send(b"\n\nquiet\nping\n")
    assert client.readline() == "echo:ping"
    assert instrument.lines == ["", "", "quiet", "ping"]
    client.close()


def test_non_utf8_bytes_are_replaced_not_fatal(echo):
    server, _ = echo
    client = _client(server)
    client.send(b"\xff\xfe\x80abc\n")
    assert client.readline() == "echo:\ufffd\ufffd\ufffdabc"
    assert client.query("still") == "echo:still"
    client.close()


def test_overlong_line_is_discarded_and_reported_once(echo):
    server, instrument = echo
    client = _client(server)
    client.send(b"x" * (3 * MAX_LINE_BYTES) + b"\n")
    assert client.readline() == "too long"
    assert client.query("after") == "echo:after"
    assert instrument.overlong == 1
    assert all(len(line) < MAX_LINE_BYTES for line in instrument.lines)
    client.close()


def test_instrument_exception_does_not_end_the_connection(echo):
    server, _ = echo
    client = _client(server)
    client.write("boom")
    assert client.query("alive") == "echo:alive"
    client.close()


def test_abrupt_disconnects_leave_the_server_serving(echo):
    server, _ = echo
    for _ in range(5):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(b"half a line without terminator")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # linger 0: connection reset
    client = _client(server)
    assert client.query("next") == "echo:next"
    client.close()


def test_concurrent_clients_are_served_independently(echo):
    server, _ = echo
    clients = [_client(server) for _ in range(4)]
    for i, client in enumerate(clients):
        client.write(f"c{i}")
    assert [client.readline() for client in clients] == [f"echo:c{i}" for i in range(4)]
    for client in clients:
        client.close()


def test_stop_closes_open_connections_and_joins_threads():
    before = set(threading.enumerate())
    server = LineServer("127.0.0.1", 0, EchoInstrument(), name="echo")
    server.start()
    clients = [_client(server) for _ in range(3)]
    assert clients[0].query("hello") == "echo:hello"
    server.stop()
    server.stop()  # idempotent
    assert set(threading.enumerate()) <= before
    for client in clients:
        with pytest.raises((ConnectionError, OSError)):
            client.query("after stop")
        client.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1.0)

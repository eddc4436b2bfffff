"""Raw line-protocol client for the simulated station's server tests (imported by tests)."""

from __future__ import annotations

import socket

import pytest


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

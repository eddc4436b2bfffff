"""Threaded TCP line server: the transport every emulated instrument shares.

A client (pyvisa-py's ``TCPIP::<host>::<port>::SOCKET``) sends lines terminated by ``\\n``; each
line goes to the instrument's :meth:`LineInstrument.handle_line` under the instrument's lock and
the reply, if any, goes back as one line terminated by ``\\n``. The transport never lets client
input take a server down: undecodable bytes are decoded with replacement characters (the
instrument then reports an undefined command), over-long lines are discarded and reported, and a
client that disconnects abruptly only ends its own connection.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress

log = logging.getLogger(__name__)

#: Longest accepted line in bytes, terminator excluded. The longest legitimate command (a bit
#: string for a 196-row input vector, or a compound SCPI line) is far shorter.
MAX_LINE_BYTES = 65536

_RECV_CHUNK_BYTES = 65536

#: How often the accept loop checks for a stop request (s): the latency of stop().
_POLL_INTERVAL_S = 0.05


class LineInstrument(ABC):
    """An instrument that answers one request line with at most one reply line."""

    #: Serialises all requests that touch shared station state; servers hold it per line.
    lock: AbstractContextManager[object]

    @abstractmethod
    def handle_line(self, line: str) -> str | None:
        """Execute one request line (terminator stripped); return the reply line or None."""

    @abstractmethod
    def handle_overlong_line(self) -> str | None:
        """React to a line longer than :data:`MAX_LINE_BYTES` that was discarded unread."""


class _LineHandler(socketserver.BaseRequestHandler):
    """One client connection: split the byte stream into lines, answer each in order."""

    server: LineServer
    request: socket.socket

    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.register_client(self.request)

    def finish(self) -> None:
        self.server.unregister_client(self.request)

    def handle(self) -> None:
        pending = bytearray()
        discarding = False  # inside an over-long line, waiting for its terminator
        while True:
            try:
                chunk = self.request.recv(_RECV_CHUNK_BYTES)
                _ack_at_once(self.request)
            except OSError:
                return  # reset by peer, or closed by LineServer.stop()
            if not chunk:
                return
            pending += chunk
            while True:
                end = pending.find(b"\n")
                if end < 0:
                    if len(pending) > MAX_LINE_BYTES:
                        discarding = True
                        pending.clear()
                    break
                raw = bytes(pending[:end])
                del pending[: end + 1]
                if discarding or len(raw) > MAX_LINE_BYTES:
                    discarding = False
                    reply = self._answer_overlong()
                else:
                    reply = self._answer(raw)
                if reply is not None and not self._send(reply):
                    return

    def _answer(self, raw: bytes) -> str | None:
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        return self._guarded(lambda: self.server.instrument.handle_line(line), line)

    def _answer_overlong(self) -> str | None:
        return self._guarded(self.server.instrument.handle_overlong_line, "<over-long line>")

    def _guarded(self, action: Callable[[], str | None], line: str) -> str | None:
        try:
            with self.server.instrument.lock:
                return action()
        except Exception:  # an emulator bug must not end the connection or the server
            log.exception("%s: unhandled error for %r", self.server.name, line[:200])
            return None

    def _send(self, reply: str) -> bool:
        try:
            self.request.sendall(reply.encode("utf-8") + b"\n")
        except OSError:
            return False
        return True


class LineServer(socketserver.ThreadingTCPServer):
    """A TCP server for one instrument, one thread per client connection.

    :meth:`start` serves in a background thread; :meth:`stop` closes the listening socket and
    every open connection and joins all threads.
    """

    allow_reuse_address = True
    daemon_threads = False
    block_on_close = True

    def __init__(self, host: str, port: int, instrument: LineInstrument, name: str) -> None:
        self.instrument = instrument
        self.name = name
        self._clients: set[socket.socket] = set()
        self._clients_lock = threading.Lock()
        self._closing = False
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _LineHandler)

    @property
    def port(self) -> int:
        """The bound TCP port (the OS picks a free one when constructed with port 0)."""
        return int(self.server_address[1])

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL_S},
            name=f"sim-{self.name}",
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, close every connection, join all threads; idempotent."""
        with self._clients_lock:
            if self._closing:
                return
            self._closing = True
            clients = list(self._clients)
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
        for client in clients:
            _shutdown_socket(client)
        self.server_close()  # joins the connection threads (block_on_close)

    def register_client(self, client: socket.socket) -> None:
        with self._clients_lock:
            if self._closing:
                _shutdown_socket(client)
            self._clients.add(client)

    def unregister_client(self, client: socket.socket) -> None:
        with self._clients_lock:
            self._clients.discard(client)


def _ack_at_once(client: socket.socket) -> None:
    """Acknowledge received data at once instead of after the delayed-ACK timer (~40 ms).

    pyvisa-py does not set TCP_NODELAY, so a command without reply followed by a query leaves
    the query waiting (Nagle) for the ACK of the command. Linux resets TCP_QUICKACK after
    use, hence once per recv(); a no-op where the option does not exist.
    """
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if quickack is not None:
        client.setsockopt(socket.IPPROTO_TCP, quickack, 1)


def _shutdown_socket(client: socket.socket) -> None:
    """Wake a thread blocked in recv() on ``client`` so that it ends."""
    with suppress(OSError):
        client.shutdown(socket.SHUT_RDWR)

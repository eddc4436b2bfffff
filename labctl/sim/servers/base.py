"""Threaded TCP line server: the transport every emulated instrument shares.

A client (pyvisa-py's ``TCPIP::<host>::<port>::SOCKET``) sends lines terminated by ``\\n``; each
line goes to the instrument's :meth:`LineInstrument.handle_line` under the instrument's lock and
the reply, if any, goes back as one line terminated by ``\\n``. The transport never lets client
input take a server down: undecodable bytes are decoded with replacement characters (the
instrument then reports an undefined command), over-long lines are discarded and reported, and a
client that disconnects abruptly only ends its own connection.

With an :class:`~labctl.sim.faults.InstrumentFaults` attached (``LineServer.faults``), the
transport also injects the faults of a real bench: connections reset on arrival, lines lost with
their connection, instrument restarts, replies lost, delayed or garbled, prober error codes.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress

from labctl.sim.faults import PROBER_ERROR_REPLY, InstrumentFaults

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

    def power_cycle(self) -> None:  # noqa: B027 - optional hook: stateless instruments need none
        """Restart: every setting back to its power-on default (the ``restart`` fault)."""


class _LineHandler(socketserver.BaseRequestHandler):
    """One client connection: split the byte stream into lines, answer each in order."""

    server: LineServer
    request: socket.socket

    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.register_client(self.request)
        faults = self.server.faults
        self.refused = faults is not None and faults.on_connection()

    def finish(self) -> None:
        self.server.unregister_client(self.request)

    def handle(self) -> None:
        if self.refused:
            reset_connection(self.request)
            return
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
                elif self.server.faults is None:
                    reply = self._answer(raw)
                else:
                    done, reply = self._answer_with_faults(raw, self.server.faults)
                    if done:
                        return
                if reply is not None and not self._send(reply):
                    return

    def _answer(self, raw: bytes) -> str | None:
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        return self._guarded(lambda: self.server.instrument.handle_line(line), line)

    def _answer_with_faults(self, raw: bytes, faults: InstrumentFaults) -> tuple[bool, str | None]:
        """(connection over, reply) for one line under fault injection."""
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        action = faults.on_line(line)
        if action == "drop":
            reset_connection(self.request)
            return True, None
        if action == "restart":
            self.server.restart_instrument()
            return True, None
        if action == "error":
            return False, PROBER_ERROR_REPLY
        reply = self._answer(raw)
        if reply is None:
            return False, None
        fate = faults.on_reply(reply)
        if fate.delay_s > 0:
            time.sleep(fate.delay_s)  # outside the instrument lock: other clients carry on
        return False, fate.text

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

    def __init__(
        self,
        host: str,
        port: int,
        instrument: LineInstrument,
        name: str,
        faults: InstrumentFaults | None = None,
    ) -> None:
        self.instrument = instrument
        self.name = name
        self.faults = faults
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

    def restart_instrument(self) -> None:
        """Power-cycle the instrument: settings to defaults, every open connection reset."""
        with self.instrument.lock:
            self.instrument.power_cycle()
        with self._clients_lock:
            clients = list(self._clients)
        for client in clients:
            reset_connection(client)


def _ack_at_once(client: socket.socket) -> None:
    """Acknowledge received data at once instead of after the delayed-ACK timer (~40 ms).

    pyvisa-py does not set TCP_NODELAY, so a command without reply followed by a query leaves
    the query waiting (Nagle) for the ACK of the command. Linux resets TCP_QUICKACK after
    use, hence once per recv(); a no-op where the option does not exist.
    """
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if quickack is not None:
        client.setsockopt(socket.IPPROTO_TCP, quickack, 1)


def reset_connection(client: socket.socket) -> None:
    """End a connection with a TCP reset (what a rebooting instrument's network stack does):
    the client's next read or write fails at once instead of waiting for a timeout."""
    with suppress(OSError):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    _shutdown_socket(client)


def _shutdown_socket(client: socket.socket) -> None:
    """Wake a thread blocked in recv() on ``client`` so that it ends."""
    with suppress(OSError):
        client.shutdown(socket.SHUT_RDWR)

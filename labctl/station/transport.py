"""VISA transport of a station: I/O failures become one-line errors naming role and resource.

The adapter also keeps what recovery needs to know: whether an I/O failure left the connection
in an unknown state (``broken``: after a timeout a late reply may still arrive, after a reset
nothing will), and how to open it again (:meth:`RoleAdapter.reopen`). Every message passes the
role's interlock (``interlock``, installed by the station: the driver's allow-list and limits)
before a byte is sent, whoever sends it: a driver, a procedure or a script writing to the
adapter directly; a message with a control character is refused even before that. Only the
known VISA backends and vendor libraries are loaded (``config.visa_library_problem``).
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pyvisa
from pymeasure.adapters import VISAAdapter

from drivers.allow_list import refuse_control_characters
from labctl.core.errors import InstrumentError
from labctl.core.roles import Role
from labctl.station.config import require_known_visa_library
from labctl.station.visa_errors import open_failure, resource_problem

log = logging.getLogger(__name__)


class RoleAdapter(VISAAdapter):
    """PyMeasure's VISA adapter for one station role.

    Opening, writing and reading failures (unreachable resource, connection reset, timeout)
    raise :class:`InstrumentError` ``"<role> (<resource>): <what failed>: <why>"``, so that a
    driver several layers down still produces an error the operator can act on.
    """

    connection: Any

    def __init__(self, role: Role, resource: str, visa_library: str, *, key: str | None = None,
                 **kwargs: Any) -> None:
        self.role = role
        #: How errors and transcripts name this instrument: the role, or ``read_smu_<n>``.
        self.key = key or str(role)
        self.resource = resource
        #: An I/O failure left this connection in an unknown state: reopen before trusting it.
        self.broken = False
        #: Called with every message before it is sent; raises to refuse it (SafetyError).
        self.interlock: Callable[[str], None] | None = None
        #: One message at a time on the wire (the session's heartbeat writes from its thread).
        self._write_lock = threading.RLock()
        self._open_kwargs = dict(kwargs)
        require_known_visa_library(visa_library)  # pyvisa would load any shared object
        problem = resource_problem(resource, visa_library)  # before pyvisa guesses (warning)
        if problem is not None:
            raise InstrumentError(f"{self._label()}: cannot open: {problem}")
        try:
            super().__init__(resource, visa_library=visa_library, **kwargs)
        except Exception as exc:  # pyvisa raises many types here; each is an unusable resource
            raise InstrumentError(
                f"{self._label()}: cannot open: {open_failure(exc, resource, visa_library)}"
            ) from exc
        disable_nagle(self.connection)
        detect_closed_connection(self.connection)

    def reopen(self) -> None:
        """Close the connection and open a fresh one to the same resource (late replies and
        half-read lines of the old one are gone with it). InstrumentError if it cannot."""
        with suppress(Exception):  # the old connection may already be dead
            self.connection.close()
        try:
            self.connection = self.manager.open_resource(self.resource, **self._open_kwargs)
        except Exception as exc:
            self.broken = True
            raise InstrumentError(
                f"{self._label()}: cannot reopen: {type(exc).__name__}: {_first_line(exc)}"
            ) from exc
        disable_nagle(self.connection)
        detect_closed_connection(self.connection)
        self.broken = False

    def _write(self, command: str, **kwargs: Any) -> None:
        refuse_control_characters(command, self._label())
        if self.interlock is not None:
            self.interlock(command)
        with self._write_lock, self._failures("sending"):
            super()._write(command, **kwargs)

    def _write_bytes(self, content: bytes, **kwargs: Any) -> None:
        text = content.decode("ascii", errors="replace")
        refuse_control_characters(text, self._label())
        if self.interlock is not None:
            self.interlock(text)
        with self._write_lock, self._failures("sending"):
            super()._write_bytes(content, **kwargs)

    def _read(self, **kwargs: Any) -> str:
        with self._failures("reading the reply"):
            try:
                return str(super()._read(**kwargs))
            except UnicodeDecodeError as exc:  # the whole line was read: still in step
                raise InstrumentError(
                    f"{self._label()}: garbled reply (not ASCII at byte {exc.start})"
                ) from None

    def flush_read_buffer(self) -> None:
        """Discard replies that arrived late; never blocks on a dead connection (pyvisa-py's
        own flush spins forever on a socket the instrument closed)."""
        sock, session = _socket_of(self.connection)
        if sock is None:
            with self._failures("discarding late replies"):
                super().flush_read_buffer()
            return
        pending = getattr(session, "_pending_buffer", None)
        if pending is not None:
            pending.clear()
        deadline = time.monotonic() + _FLUSH_LIMIT_s
        with self._failures("discarding late replies"):
            while time.monotonic() < deadline:
                readable, _, _ = select.select([sock], [], [], 0)
                if not readable:
                    return
                if not sock.recv(_FLUSH_CHUNK_BYTES):
                    self.broken = True
                    raise ConnectionResetError("connection closed by the instrument")

    @contextmanager
    def _failures(self, action: str) -> Iterator[None]:
        try:
            yield
        except InstrumentError:
            raise
        except pyvisa.errors.VisaIOError as exc:
            self.broken = True
            if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
                timeout_ms = getattr(self.connection, "timeout", None)
                after = f" after {timeout_ms / 1000:g} s" if timeout_ms else ""
                raise InstrumentError(
                    f"{self._label()}: {action}: timed out{after} (no reply)"
                ) from exc
            raise InstrumentError(f"{self._label()}: {action}: {_first_line(exc)}") from exc
        except (OSError, pyvisa.errors.InvalidSession) as exc:
            self.broken = True
            raise InstrumentError(
                f"{self._label()}: {action}: {type(exc).__name__}: {_first_line(exc)}"
            ) from exc

    def _label(self) -> str:
        return f"{self.key} ({self.resource})"


#: How long a flush may drain late replies (s), and its read size.
_FLUSH_LIMIT_s = 1.0
_FLUSH_CHUNK_BYTES = 1 << 16


def _socket_of(connection: Any) -> tuple[socket.socket | None, Any]:
    """The raw socket and session behind a pyvisa-py TCPIP SOCKET resource, else (None, None)."""
    sessions = getattr(getattr(connection, "visalib", None), "sessions", {})
    session = sessions.get(getattr(connection, "session", None))
    sock = getattr(session, "interface", None)
    return (sock, session) if isinstance(sock, socket.socket) else (None, None)


class _ClosedAwareSocket(socket.socket):
    """A socket whose ``recv`` raises when the peer has closed the connection.

    pyvisa-py's read loop takes an empty ``recv`` for "no data yet" and spins until its timeout
    (its flush spins forever); a restarted instrument's closed connection must fail at once.
    """

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = super().recv(bufsize, flags)
        if not data and bufsize > 0:
            raise ConnectionResetError("connection closed by the instrument")
        return data


def detect_closed_connection(connection: Any) -> None:
    """Make reads on a pyvisa-py TCPIP SOCKET fail at once once the instrument closed it."""
    sock, session = _socket_of(connection)
    if sock is None or isinstance(sock, _ClosedAwareSocket):
        return
    session.interface = _ClosedAwareSocket(sock.family, sock.type, sock.proto,
                                           fileno=sock.detach())


def disable_nagle(connection: Any) -> None:
    """Send each message at once on raw TCP sockets (VISA's default, not pyvisa-py's).

    Without it, a query that follows unanswered commands waits for the peer's delayed ACK
    (~40 ms on Linux), which would dominate every batched read. pyvisa-py 0.8 maps the
    ``VI_ATTR_TCPIP_NODELAY`` setter to a stub that raises, so the option is set on its socket.
    """
    if getattr(connection, "interface_type", None) != pyvisa.constants.InterfaceType.tcpip:
        return
    try:
        connection.set_visa_attribute(pyvisa.constants.ResourceAttribute.tcpip_nodelay, True)
        return
    except Exception as exc:  # backends differ; fall back to pyvisa-py's socket below
        log.debug("VI_ATTR_TCPIP_NODELAY not settable on %s: %s", connection, exc)
    sock, _ = _socket_of(connection)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

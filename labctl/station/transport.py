"""VISA transport of a station: I/O failures become one-line errors naming role and resource.

The adapter also keeps what recovery needs to know: whether an I/O failure left the connection
in an unknown state (``broken``: after a timeout a late reply may still arrive, after a reset
nothing will), and how to open it again (:meth:`RoleAdapter.reopen`). Every message passes the
role's interlock (``interlock``, installed by the station: the driver's allow-list and limits)
before a byte is sent, whoever sends it: a driver, a procedure or a script writing to the
adapter directly; a message with a control character is refused even before that. Only the
known VISA backends and vendor libraries are loaded (``config.visa_library_problem``).

A :class:`TranscriptRecorder` attached to adapters (or active, with :func:`recording`, for
every adapter opened meanwhile) records every message sent and every reply read, with the
instrument's key, the exact bytes and a timestamp: what ``labctl station record`` writes and
``tools/transcript_to_test.py`` turns into a byte-exact protocol test.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
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
        #: Records every message and reply when set (see :class:`TranscriptRecorder`).
        self.recorder: TranscriptRecorder | None = _active_recorder
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
        if self.recorder is not None:
            self.recorder.note(self.key, "sent", command, self._termination("write"))

    def _write_bytes(self, content: bytes, **kwargs: Any) -> None:
        text = content.decode("ascii", errors="replace")
        refuse_control_characters(text, self._label())
        if self.interlock is not None:
            self.interlock(text)
        with self._write_lock, self._failures("sending"):
            super()._write_bytes(content, **kwargs)
        if self.recorder is not None:
            self.recorder.note(self.key, "sent", text, "")

    def _read(self, **kwargs: Any) -> str:
        with self._failures("reading the reply"):
            try:
                reply = str(super()._read(**kwargs))
                if self.recorder is not None:
                    self.recorder.note(self.key, "received", reply, self._termination("read"))
                return reply
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

    def _termination(self, which: str) -> str:
        return str(getattr(self.connection, f"{which}_termination", "") or "")


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


#: The recorder every new RoleAdapter attaches to (set by :func:`recording`).
_active_recorder: TranscriptRecorder | None = None


class TranscriptRecorder:
    """What each instrument was sent and answered, in order, thread-safe.

    Each entry: ``t`` (Unix time, s), ``role`` (the instrument's key: a role or ``read_smu_<n>``),
    ``dir`` (``sent`` or ``received``), ``message`` (as the driver sees it) and ``bytes`` (the
    message with its line termination: what crossed the wire).
    """

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def note(self, key: str, direction: str, message: str, termination: str) -> None:
        entry = {"t": round(time.time(), 6), "role": key, "dir": direction,
                 "message": message, "bytes": message + termination}
        with self._lock:
            self.entries.append(entry)

    def attach(self, adapters: Iterable[Any]) -> None:
        """Record the messages of these adapters (other adapter types are skipped)."""
        for adapter in adapters:
            if isinstance(adapter, RoleAdapter):
                adapter.recorder = self

    def write_jsonl(self, path: Path, header: Mapping[str, Any]) -> int:
        """Write ``header`` then one JSON line per entry; returns the number of entries."""
        with self._lock:
            entries = list(self.entries)
        with Path(path).open("w", encoding="utf-8") as handle:
            handle.write(json.dumps({"transcript": "labctl", "version": 1, **header}) + "\n")
            for entry in entries:
                handle.write(json.dumps(entry) + "\n")
        return len(entries)


@contextmanager
def recording(recorder: TranscriptRecorder) -> Iterator[TranscriptRecorder]:
    """Attach ``recorder`` to every RoleAdapter opened inside the block."""
    global _active_recorder
    previous, _active_recorder = _active_recorder, recorder
    try:
        yield recorder
    finally:
        _active_recorder = previous


def read_transcript(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, entries) of a transcript written by :meth:`TranscriptRecorder.write_jsonl`."""
    lines = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()
             if line.strip()]
    if not lines or lines[0].get("transcript") != "labctl":
        raise ValueError(f"{path}: not a labctl transcript")
    return lines[0], lines[1:]


def comm_pairs(entries: list[dict[str, Any]], key: str) -> list[tuple[str | None, str | None]]:
    """One instrument's (message, reply) pairs as PyMeasure's ``expected_protocol`` takes them:
    a message and the reply read right after it, ``None`` where there is none."""
    pairs: list[tuple[str | None, str | None]] = []
    pending: str | None = None
    has_pending = False
    for entry in entries:
        if entry["role"] != key:
            continue
        if entry["dir"] == "sent":
            if has_pending:
                pairs.append((pending, None))
            pending, has_pending = entry["message"], True
        else:
            pairs.append((pending if has_pending else None, entry["message"]))
            pending, has_pending = None, False
    if has_pending:
        pairs.append((pending, None))
    return pairs

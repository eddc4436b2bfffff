"""VISA transport of a station: I/O failures become one-line errors naming role and resource."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyvisa
from pymeasure.adapters import VISAAdapter

from labctl.errors import InstrumentError

log = logging.getLogger(__name__)


class RoleAdapter(VISAAdapter):
    """PyMeasure's VISA adapter for one station role.

    Opening, writing and reading failures (unreachable resource, connection reset, timeout)
    raise :class:`InstrumentError` ``"<role> (<resource>): <what failed>: <why>"``, so that a
    driver several layers down still produces an error the operator can act on.
    """

    def __init__(self, role: str, resource: str, visa_library: str, **kwargs: Any) -> None:
        self.role = role
        self.resource = resource
        try:
            super().__init__(resource, visa_library=visa_library, **kwargs)
        except Exception as exc:  # pyvisa raises many types here; each is an unusable resource
            raise InstrumentError(
                f"{self._label()}: cannot open: {type(exc).__name__}: {_first_line(exc)}"
            ) from exc
        disable_nagle(self.connection)

    def _write(self, command: str, **kwargs: Any) -> None:
        with self._failures("sending"):
            super()._write(command, **kwargs)

    def _write_bytes(self, content: bytes, **kwargs: Any) -> None:
        with self._failures("sending"):
            super()._write_bytes(content, **kwargs)

    def _read(self, **kwargs: Any) -> str:
        with self._failures("reading the reply"):
            return str(super()._read(**kwargs))

    def _read_bytes(self, count: int, break_on_termchar: bool = False, **kwargs: Any) -> bytes:
        with self._failures("reading the reply"):
            return bytes(super()._read_bytes(count, break_on_termchar, **kwargs))

    @contextmanager
    def _failures(self, action: str) -> Iterator[None]:
        try:
            yield
        except pyvisa.errors.VisaIOError as exc:
            if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
                timeout_ms = getattr(self.connection, "timeout", None)
                after = f" after {timeout_ms / 1000:g} s" if timeout_ms else ""
                raise InstrumentError(
                    f"{self._label()}: {action}: timed out{after} (no reply)"
                ) from exc
            raise InstrumentError(f"{self._label()}: {action}: {_first_line(exc)}") from exc
        except (OSError, pyvisa.errors.InvalidSession) as exc:
            raise InstrumentError(
                f"{self._label()}: {action}: {type(exc).__name__}: {_first_line(exc)}"
            ) from exc

    def _label(self) -> str:
        return f"{self.role} ({self.resource})"


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
    sessions = getattr(getattr(connection, "visalib", None), "sessions", {})
    sock = getattr(sessions.get(getattr(connection, "session", None)), "interface", None)
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

"""Tiny TCP line servers for connection tests: one that never answers, one that answers a table."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    """A loopback port with nothing listening on it (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def resource(port: int) -> str:
    return f"TCPIP::127.0.0.1::{port}::SOCKET"


@contextmanager
def line_server(replies: dict[str, str] | None = None) -> Iterator[int]:
    """Serve on a free loopback port; answer lines found in ``replies``, ignore the rest.

    ``replies=None`` makes a server that accepts connections and never answers (timeouts).
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve_client(conn: socket.socket) -> None:
        buffer = b""
        conn.settimeout(0.05)
        with conn:
            while not stop.is_set():
                try:
                    chunk = conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    reply = (replies or {}).get(line.decode())
                    if replies is not None and reply is not None:
                        conn.sendall(reply.encode() + b"\n")

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve_client, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()

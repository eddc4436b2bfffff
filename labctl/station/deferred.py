"""Sections that a signal must not cut short: the safe state and a publish.

A signal handler (SIGINT's KeyboardInterrupt, or a session's stop request) raises wherever the
main thread happens to be. Inside ``safe_state()`` that would leave an output on, or a reply
unread that the next query then takes for its own answer; inside a publish, a half-built file.
:func:`deferred_signals` records SIGINT, SIGTERM, SIGHUP and SIGQUIT while its block runs and
hands them to the previous handlers afterwards, the way QCoDeS's ``DelayedKeyboardInterrupt``
does. Only the main thread receives signals in Python, so elsewhere it is a no-op.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

#: The signals an operator or a system sends to end a run: Ctrl-C, kill / systemd / the GUI's
#: Stop, a dropped SSH session, Ctrl-\.
STOP_SIGNALS: tuple[signal.Signals, ...] = (
    signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
)


@contextmanager
def deferred_signals(signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> Iterator[list[int]]:
    """Run the block with ``signals`` recorded instead of handled; afterwards, deliver each
    recorded one (once, in arrival order) to the handler that was installed before.

    Yields the list of signal numbers received so far (for callers that want to know).
    Nested sections defer to the outermost one.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def record(signum: int, frame: FrameType | None) -> None:
        if signum not in received:
            received.append(signum)
        log.warning("%s received: deferred until the station is safe",
                    signal.Signals(signum).name)

    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in signals:
            previous[sig] = signal.signal(sig, record)
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in received:
            _deliver(signum, previous.get(signal.Signals(signum)))


def _deliver(signum: int, handler: Any) -> None:
    """Hand a deferred signal to ``handler`` as the kernel would have."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        signal.raise_signal(signum)
    # SIG_IGN (or None: a handler not installed from Python): nothing to do

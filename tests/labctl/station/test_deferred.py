"""The deferred-signal section: a stop signal inside it waits until the block is done, then
reaches the handler that was installed before (once), whatever the signal."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest

from labctl.station.deferred import STOP_SIGNALS, deferred_signals


@pytest.fixture
def recorded() -> Iterator[list[int]]:
    """Every stop signal recorded by a plain handler (restored afterwards)."""
    seen: list[int] = []
    previous = {sig: signal.signal(sig, lambda s, f: seen.append(s)) for sig in STOP_SIGNALS}
    yield seen
    for sig, handler in previous.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=lambda s: s.name)
def test_a_signal_inside_waits_for_the_end_of_the_block(
    recorded: list[int], sig: signal.Signals
) -> None:
    steps: list[str] = []
    with deferred_signals() as received:
        steps.append("before")
        os.kill(os.getpid(), sig)
        os.kill(os.getpid(), sig)  # a second one (a second Ctrl-C) is not acted on either
        steps.append("after")
        assert recorded == [] and received == [sig]
    assert steps == ["before", "after"]
    assert recorded == [sig]  # delivered once, after the block


def test_keyboard_interrupt_is_raised_after_the_block_not_inside() -> None:
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    done = False
    try:
        with pytest.raises(KeyboardInterrupt), deferred_signals():
            os.kill(os.getpid(), signal.SIGINT)
            done = True
    finally:
        signal.signal(signal.SIGINT, previous)
    assert done


def test_outside_the_main_thread_it_changes_nothing(recorded: list[int]) -> None:
    handlers: list[object] = []

    def worker() -> None:
        with deferred_signals() as received:
            handlers.append(signal.getsignal(signal.SIGTERM))
            assert received == []

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert handlers == [signal.getsignal(signal.SIGTERM)]

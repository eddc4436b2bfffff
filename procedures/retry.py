"""Bounded retries with exponential back-off for transient instrument failures.

An overnight sweep must not stop on one lost reply: VISA timeouts, dropped connections and
instrument errors are retried a few times, with a pause that grows so a busy instrument can
recover. Anything else (a safety refusal, a bug, an abort) propagates at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pyvisa.constants import StatusCode
from pyvisa.errors import VisaIOError

from labctl.core.errors import InstrumentError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: VISA status codes worth another attempt: the link or the instrument was briefly unavailable.
TRANSIENT_VISA_CODES: frozenset[int] = frozenset(
    {
        StatusCode.error_timeout,
        StatusCode.error_connection_lost,
        StatusCode.error_io,
        StatusCode.error_resource_busy,
        StatusCode.error_input_protocol_violation,
        StatusCode.error_output_protocol_violation,
    }
)


def is_transient(exc: BaseException) -> bool:
    """True for failures that a retry may cure (timeouts, lost links, instrument errors)."""
    if isinstance(exc, VisaIOError):
        return exc.error_code in TRANSIENT_VISA_CODES
    return isinstance(exc, TimeoutError | ConnectionError | InstrumentError)


def describe_failure(exc: BaseException) -> str:
    """One line naming the failure, for logs and the `failure_reason` of a die."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient failure is retried.

    ``attempts`` counts the first try; the pause before retry k (k = 1, 2, ...) is
    ``min(initial_backoff_s * factor**(k-1), max_backoff_s)``.
    """

    attempts: int = 3
    initial_backoff_s: float = 0.5
    factor: float = 2.0
    max_backoff_s: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if self.initial_backoff_s < 0 or self.max_backoff_s < 0 or self.factor < 1:
            raise ValueError("back-off times must be >= 0 and factor >= 1")

    def backoff_s(self, retry: int) -> float:
        """Pause before the ``retry``-th retry (1-based)."""
        return min(self.initial_backoff_s * self.factor ** (retry - 1), self.max_backoff_s)

    def call(
        self,
        operation: Callable[[], T],
        *,
        what: str = "instrument operation",
        recover: Callable[[], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
        """Run ``operation``; on a transient failure pause, call ``recover``, and try again.

        The last failure is re-raised once ``attempts`` are spent. ``recover`` (for example,
        clearing the instruments' input buffers) runs before each retry; if it fails itself
        that failure is logged and the retry still happens.
        """
        for attempt in range(1, self.attempts + 1):
            try:
                return operation()
            except Exception as exc:
                if not is_transient(exc) or attempt == self.attempts:
                    raise
                pause_s = self.backoff_s(attempt)
                log.warning(
                    "%s failed (attempt %d of %d): %s; retrying in %.2f s",
                    what, attempt, self.attempts, describe_failure(exc), pause_s,
                )
                sleep(pause_s)
                if recover is not None:
                    try:
                        recover()
                    except Exception as recover_exc:  # keep retrying; the retry will tell
                        log.warning("recovery before retry failed: %s",
                                    describe_failure(recover_exc))
        raise AssertionError("unreachable")  # pragma: no cover

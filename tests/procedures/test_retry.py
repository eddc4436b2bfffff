"""Retry policy: transient failures are retried with growing pauses, others propagate at once."""

from __future__ import annotations

import pytest
from pyvisa.constants import StatusCode
from pyvisa.errors import VisaIOError

from labctl.core.errors import InstrumentError, SafetyError
from procedures.retry import RetryPolicy, describe_failure, is_transient


class FlakyOperation:
    """Fails with the given exceptions in turn, then returns 'ok'."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def test_transient_classification() -> None:
    assert is_transient(VisaIOError(StatusCode.error_timeout))
    assert is_transient(VisaIOError(StatusCode.error_connection_lost))
    assert is_transient(TimeoutError("slow"))
    assert is_transient(ConnectionResetError("reset"))
    assert is_transient(InstrumentError("-222 Data out of range"))
    assert not is_transient(VisaIOError(StatusCode.error_resource_not_found))
    assert not is_transient(SafetyError("too high"))
    assert not is_transient(ValueError("bug"))


def test_retries_transient_failures_with_exponential_backoff() -> None:
    pauses: list[float] = []
    recoveries: list[int] = []
    operation = FlakyOperation(VisaIOError(StatusCode.error_timeout), TimeoutError("again"))
    policy = RetryPolicy(attempts=3, initial_backoff_s=0.5, factor=2.0, max_backoff_s=10.0)
    result = policy.call(operation, recover=lambda: recoveries.append(1), sleep=pauses.append)
    assert result == "ok"
    assert operation.calls == 3
    assert pauses == [0.5, 1.0]
    assert len(recoveries) == 2


def test_gives_up_after_the_bounded_number_of_attempts() -> None:
    pauses: list[float] = []
    operation = FlakyOperation(*(TimeoutError(f"t{i}") for i in range(5)))
    with pytest.raises(TimeoutError, match="t2"):
        RetryPolicy(attempts=3).call(operation, sleep=pauses.append)
    assert operation.calls == 3
    assert len(pauses) == 2


def test_non_transient_failure_is_not_retried() -> None:
    operation = FlakyOperation(SafetyError("refused"))
    with pytest.raises(SafetyError):
        RetryPolicy(attempts=5).call(operation, sleep=lambda s: None)
    assert operation.calls == 1


def test_failing_recovery_does_not_stop_the_retry() -> None:
    def broken_recover() -> None:
        raise ConnectionError("still down")

    operation = FlakyOperation(TimeoutError("once"))
    assert RetryPolicy(attempts=2).call(
        operation, recover=broken_recover, sleep=lambda s: None
    ) == "ok"


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(attempts=10, initial_backoff_s=1.0, factor=3.0, max_backoff_s=5.0)
    assert [policy.backoff_s(k) for k in (1, 2, 3, 4)] == [1.0, 3.0, 5.0, 5.0]


@pytest.mark.parametrize("kwargs", [{"attempts": 0}, {"factor": 0.5}, {"initial_backoff_s": -1}])
def test_invalid_policy_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_describe_failure_is_one_line() -> None:
    assert describe_failure(TimeoutError("a\nb")) == "TimeoutError: a"
    assert describe_failure(TimeoutError()) == "TimeoutError"

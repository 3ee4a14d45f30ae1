"""Retry delays and handle_failure (engine-semantics §2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slipstream.scheduler.retries import RetryPolicy, failure_values, retry_delay_seconds

WHEN = datetime(2024, 1, 1, tzinfo=UTC)


def delay(policy: RetryPolicy, try_number: int) -> float:
    return retry_delay_seconds(policy, dag_id="d", task_id="t", execution_date=WHEN, try_number=try_number)


def test_plain_delay_ignores_max_retry_delay():
    assert delay(RetryPolicy(retries=3, retry_delay=600, max_retry_delay=10), 2) == 600


def test_exponential_backoff_is_deterministic_and_in_range():
    policy = RetryPolicy(retries=5, retry_delay=10, exponential_backoff=True)
    for try_number in (1, 2, 3, 4):
        base = 10 * 2 ** (try_number - 1)
        value = delay(policy, try_number)
        assert base <= value < 2 * base
        assert value == delay(policy, try_number)


def test_exponential_backoff_caps():
    assert delay(RetryPolicy(retries=5, retry_delay=10, exponential_backoff=True, max_retry_delay=15), 3) == 15
    assert delay(RetryPolicy(retries=99, retry_delay=3600, exponential_backoff=True), 40) == 86400
    # A zero delay still backs off at least one second.
    assert delay(RetryPolicy(retries=1, retry_delay=0, exponential_backoff=True), 1) == 1


def failure(policy: RetryPolicy, try_number: int, max_tries: int, **kwargs):
    start = WHEN + timedelta(seconds=5)
    return failure_values(
        policy,
        dag_id="d",
        task_id="t",
        execution_date=WHEN,
        try_number=try_number,
        max_tries=max_tries,
        start_date=start,
        now=start + timedelta(seconds=2),
        **kwargs,
    )


def test_retries_plus_one_attempts():
    policy = RetryPolicy(retries=1, retry_delay=30)
    first = failure(policy, 1, 1)
    assert first["state"] == "up_for_retry"
    assert first["next_retry_at"] == first["end_date"] + timedelta(seconds=30)
    assert first["duration"] == 2.0
    assert failure(policy, 2, 1)["state"] == "failed"


def test_no_retries_or_fail_exception_fail_at_once():
    assert failure(RetryPolicy(retries=0), 1, 0)["state"] == "failed"
    assert failure(RetryPolicy(retries=3), 1, 3, allow_retry=False)["state"] == "failed"

"""What a failed try becomes (Airflow's handle_failure): up_for_retry with its retry time, or failed."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pendulum

from slipstream.states import TaskInstanceState as TI

# core.max_task_retry_delay: no retry waits longer than a day.
MAX_TASK_RETRY_DELAY = 86400.0


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 0
    retry_delay: float = 300.0
    exponential_backoff: bool = False
    max_retry_delay: float | None = None

    @classmethod
    def from_serialized(cls, task: dict[str, Any]) -> RetryPolicy:
        return cls(
            retries=int(task.get("retries") or 0),
            retry_delay=float(task.get("retry_delay") if task.get("retry_delay") is not None else 300.0),
            exponential_backoff=bool(task.get("retry_exponential_backoff")),
            max_retry_delay=task.get("max_retry_delay"),
        )

    @classmethod
    def from_operator(cls, task: Any) -> RetryPolicy:
        def seconds(value: Any) -> float | None:
            if value is None:
                return None
            return value.total_seconds() if isinstance(value, timedelta) else float(value)

        return cls(
            retries=int(task.retries or 0),
            retry_delay=seconds(task.retry_delay) or 0.0,
            exponential_backoff=bool(task.retry_exponential_backoff),
            max_retry_delay=seconds(task.max_retry_delay),
        )


def retry_delay_seconds(
    policy: RetryPolicy, *, dag_id: str, task_id: str, execution_date: datetime, try_number: int
) -> float:
    """retry_delay, or with exponential backoff a deterministic value in [base, 2·base), capped."""
    if not policy.exponential_backoff:
        return policy.retry_delay
    base = max(1, math.ceil(policy.retry_delay * (2 ** (try_number - 1))))
    # Airflow hashes str(execution_date) of a pendulum DateTime; keep the same text so delays match.
    key = f"{dag_id}#{task_id}#{pendulum.instance(execution_date)}#{try_number}"
    ti_hash = int(hashlib.sha1(key.encode()).hexdigest(), 16)
    delay = min(float(base + ti_hash % base), MAX_TASK_RETRY_DELAY)
    if policy.max_retry_delay:
        delay = min(delay, policy.max_retry_delay)
    return delay


def is_eligible_to_retry(policy: RetryPolicy, *, try_number: int, max_tries: int, restarting: bool = False) -> bool:
    # A try cleared while it ran (restarting) always gets another (Airflow's _is_eligible_to_retry).
    return restarting or (policy.retries > 0 and try_number <= max_tries)


def failure_values(
    policy: RetryPolicy,
    *,
    dag_id: str,
    task_id: str,
    execution_date: datetime,
    try_number: int,
    max_tries: int,
    start_date: datetime | None,
    now: datetime,
    allow_retry: bool = True,
    restarting: bool = False,
) -> dict[str, Any]:
    """Column values for a failed try: up_for_retry (with next_retry_at) when allowed, else failed."""
    values: dict[str, Any] = {
        "end_date": now,
        "duration": (now - start_date).total_seconds() if start_date is not None else None,
    }
    if allow_retry and is_eligible_to_retry(policy, try_number=try_number, max_tries=max_tries, restarting=restarting):
        delay = retry_delay_seconds(
            policy, dag_id=dag_id, task_id=task_id, execution_date=execution_date, try_number=try_number
        )
        values["state"] = TI.UP_FOR_RETRY.value
        values["next_retry_at"] = now + timedelta(seconds=delay)
    else:
        values["state"] = TI.FAILED.value
        values["next_retry_at"] = None
    return values

"""A try that waits instead of finishing (task-model-semantics §9, §10), on the task process's side.

A reschedule-mode sensor ends its try `up_for_reschedule`: a `task_reschedule` row is written and the
instance's `next_retry_at` holds the reschedule date, which the scheduler honours as it honours a
retry's. A deferring operator ends its try `deferred`: a `trigger` row is written, the instance names
it with where to resume (`next_method`, `next_kwargs`) and until when (`trigger_timeout`). A resumed
try (same try number, XComs kept) calls the named method instead of `execute`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from slipstream.sdk import metastore, xcom_serde
from slipstream.sdk.exceptions import AirflowSkipException, TaskDeferralError, TaskDeferred
from slipstream.storage.models import TaskReschedule, Trigger

FAIL_METHOD = "__fail__"


def reschedule_values(ti: Any, *, started: datetime, now: datetime, reschedule_date: datetime) -> dict[str, Any]:
    """Record this reschedule; the column values that make the scheduler start the try again then."""
    with metastore.write_session() as session:
        session.add(
            TaskReschedule(
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                task_id=ti.task_id,
                map_index=ti.map_index,
                try_number=ti.try_number,
                start_date=started,
                end_date=now,
                duration=int((now - started).total_seconds()),
                reschedule_date=reschedule_date,
            )
        )
    return {"next_retry_at": reschedule_date}


def encode_trigger_kwargs(kwargs: dict[str, Any]) -> str:
    return metastore.cipher().encrypt(xcom_serde.serialize(kwargs)) or ""


def decode_trigger_kwargs(text: str) -> dict[str, Any]:
    return xcom_serde.deserialize(metastore.cipher().decrypt(text, what="trigger kwargs")) or {}


def deferral_values(task: Any, deferral: TaskDeferred, *, started: datetime, now: datetime) -> dict[str, Any]:
    """Store the trigger; the column values of the deferred instance."""
    classpath, kwargs = deferral.trigger.serialize()
    with metastore.write_session() as session:
        row = Trigger(classpath=classpath, kwargs=encode_trigger_kwargs(kwargs), created_date=now)
        session.add(row)
        session.flush()
        trigger_id = row.id
    timeout = now + deferral.timeout if deferral.timeout is not None else None
    if isinstance(getattr(task, "execution_timeout", None), timedelta):
        # The execution timeout still counts from the try's start.
        cap = started + task.execution_timeout
        timeout = min(timeout, cap) if timeout is not None else cap
    return {
        "trigger_id": trigger_id,
        "trigger_timeout": timeout,
        "next_method": deferral.method_name,
        "next_kwargs": xcom_serde.encode(deferral.kwargs or {}),
    }


def execute_or_resume(task: Any, context: dict[str, Any], next_method: str | None, next_kwargs: Any) -> Any:
    """`execute`, or for a resumed try the method the task deferred to, with the trigger's event."""
    if not next_method:
        return task.execute(context)
    kwargs = xcom_serde.decode(next_kwargs) if next_kwargs else {}
    if next_method == FAIL_METHOD:
        error = kwargs.get("error", "Unknown")
        if getattr(task, "soft_fail", False) and hasattr(task, "poke"):
            raise AirflowSkipException(f"Skipping due to soft_fail is set to True. {error}")
        traceback = kwargs.get("traceback")
        if traceback:
            print("Trigger failed:\n" + "\n".join(traceback), flush=True)
        raise TaskDeferralError(error)
    return getattr(task, next_method)(context, **kwargs)

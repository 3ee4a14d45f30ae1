"""The fork server's database work for the tries it runs (Airflow's LocalTaskJob, batched).

For each round of its loop, in one transaction: claim new tries (queued -> running, with pid,
hostname, start_date), heartbeat every running try, and record what finished (the outcome a child
reported, or handle_failure for a child that died without reporting). A try whose state was
changed under it (a dagrun_timeout, a zombie sweep) is reported back so its process is terminated.
One writer for dozens of task processes keeps SQLite's single write lock free for the scheduler.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from slipstream.scheduler.expansion import record_task_map
from slipstream.scheduler.retries import RetryPolicy, failure_values
from slipstream.scheduler.transitions import set_ti_state
from slipstream.sdk.xcom import store_xcoms
from slipstream.services.audit import record_try_event
from slipstream.services.datasets import record_dataset_events
from slipstream.states import TaskInstanceState as TI
from slipstream.storage.models import DagRun, TaskInstance, XCom


@dataclass(eq=False)
class Try:
    """One try the fork server started: what the executor asked for and what we learned since."""

    request: dict[str, Any]
    pid: int
    claimed: bool = False
    max_tries: int = 0
    execution_date: datetime | None = None
    start_date: datetime | None = None
    rendered_fields: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None  # what the child reported: state and column values
    notes: list[str] = field(default_factory=list)  # lines for the try's log

    @property
    def ti_id(self) -> int:
        return self.request["ti_id"]

    @property
    def try_number(self) -> int:
        return self.request["try_number"]


# A try that ends in one of these failed (Airflow's handle_failure, which logs a `failed` event).
FAILURE_STATES = frozenset({TI.UP_FOR_RETRY.value, TI.FAILED.value})


def _run_row(session: Session, dag_id: str, run_id: str):
    return session.execute(
        select(
            DagRun.conf,
            DagRun.execution_date,
            DagRun.data_interval_start,
            DagRun.data_interval_end,
            DagRun.run_type,
            DagRun.external_trigger,
            DagRun.start_date,
            DagRun.queued_at,
        ).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
    ).first()


def _previous_success(session: Session, dag_id: str, before: datetime):
    return session.execute(
        select(
            DagRun.execution_date,
            DagRun.data_interval_start,
            DagRun.data_interval_end,
            DagRun.start_date,
            DagRun.end_date,
        )
        .where(DagRun.dag_id == dag_id, DagRun.execution_date < before, DagRun.state == "success")
        .order_by(DagRun.execution_date.desc())
        .limit(1)
    ).first()


def claim(session: Session, tries: Iterable[Try], *, now: datetime, hostname: str, unixname: str) -> dict[int, Any]:
    """queued -> running for each try still queued for its try number; returns pid -> what its child
    needs to run (the "go" message), or an "abort" for a try that is no longer queued."""
    messages: dict[int, Any] = {}
    runs: dict[tuple[str, str], Any] = {}
    previous: dict[tuple[str, datetime], Any] = {}
    for attempt in tries:
        request = attempt.request
        moved = set_ti_state(
            session,
            attempt.ti_id,
            old=TI.QUEUED,
            new=TI.RUNNING,
            expect_try=attempt.try_number,
            start_date=now,
            end_date=None,
            duration=None,
            pid=attempt.pid,
            hostname=hostname,
            unixname=unixname,
            job_id=request.get("job_id"),
            last_heartbeat_at=now,
            next_retry_at=None,
        )
        ti_row = session.execute(
            select(
                TaskInstance.state,
                TaskInstance.try_number,
                TaskInstance.max_tries,
                TaskInstance.pool,
                TaskInstance.queue,
                TaskInstance.priority_weight,
                TaskInstance.next_method,
                TaskInstance.next_kwargs,
            ).where(TaskInstance.id == attempt.ti_id)
        ).first()
        key = (request["dag_id"], request["run_id"])
        if key not in runs:
            runs[key] = _run_row(session, *key)
        run = runs[key]
        if not moved or ti_row is None or run is None:
            state = f"{ti_row.state} (try {ti_row.try_number})" if ti_row is not None else "gone"
            messages[attempt.pid] = {
                "op": "abort",
                "reason": f"Not running try {attempt.try_number}: the task instance is {state}, "
                "not queued for this try.",
            }
            continue
        if ti_row.next_method:
            # A deferred try resumes with its XComs; what it resumes in is used up by this start.
            session.execute(
                update(TaskInstance)
                .where(TaskInstance.id == attempt.ti_id)
                .values(next_method=None, next_kwargs=None, trigger_id=None, trigger_timeout=None)
                .execution_options(synchronize_session=False)
            )
        # A try starts with none of its instance's XComs (every map index of an unmapped instance).
        clear_xcoms = delete(XCom).where(
            XCom.dag_id == request["dag_id"], XCom.run_id == request["run_id"], XCom.task_id == request["task_id"]
        )
        map_index = request.get("map_index", -1)
        if map_index is not None and map_index >= 0:
            clear_xcoms = clear_xcoms.where(XCom.map_index == map_index)
        if not ti_row.next_method:
            session.execute(clear_xcoms)
        prev_key = (request["dag_id"], run.execution_date)
        if prev_key not in previous:
            previous[prev_key] = _previous_success(session, request["dag_id"], run.execution_date)
        prev = previous[prev_key]
        record_try_event(session, TI.RUNNING.value, request, execution_date=run.execution_date)
        attempt.claimed = True
        attempt.max_tries = ti_row.max_tries
        attempt.execution_date = run.execution_date
        attempt.start_date = now
        messages[attempt.pid] = {
            "op": "go",
            "start_date": now,
            "ti": {
                "max_tries": ti_row.max_tries,
                "pool": ti_row.pool,
                "queue": ti_row.queue,
                "priority_weight": ti_row.priority_weight,
                "next_method": ti_row.next_method,
                "next_kwargs": ti_row.next_kwargs,
            },
            "run": {
                "conf": run.conf or {},
                "execution_date": run.execution_date,
                "data_interval_start": run.data_interval_start,
                "data_interval_end": run.data_interval_end,
                "run_type": run.run_type,
                "external_trigger": bool(run.external_trigger),
                "start_date": run.start_date,
                "queued_at": run.queued_at,
            },
            "previous_success": list(prev) if prev is not None else None,
        }
    return messages


def heartbeat(session: Session, tries: Iterable[Try], *, now: datetime) -> list[Try]:
    """Prove the claimed tries alive; returns those whose instance is no longer running this try."""
    running = [t for t in tries if t.claimed]
    if not running:
        return []
    ids = [t.ti_id for t in running]
    session.execute(
        update(TaskInstance)
        .where(TaskInstance.id.in_(ids), TaskInstance.state == TI.RUNNING.value)
        .values(last_heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    rows = dict(
        (row.id, (row.state, row.try_number))
        for row in session.execute(
            select(TaskInstance.id, TaskInstance.state, TaskInstance.try_number).where(TaskInstance.id.in_(ids))
        )
    )
    lost = []
    for attempt in running:
        state, try_number = rows.get(attempt.ti_id, (None, None))
        if state != TI.RUNNING.value or try_number != attempt.try_number:
            attempt.notes.append(f"State of this instance has been externally set to {state}. Terminating instance.")
            lost.append(attempt)
    return lost


def save_rendered_fields(session: Session, attempt: Try) -> None:
    session.execute(
        update(TaskInstance)
        .where(
            TaskInstance.id == attempt.ti_id,
            TaskInstance.try_number == attempt.try_number,
            TaskInstance.state == TI.RUNNING.value,
        )
        .values(rendered_fields=attempt.rendered_fields)
        .execution_options(synchronize_session=False)
    )


def record(session: Session, attempt: Try, *, now: datetime, returncode: int | None) -> str | None:
    """Write the try's outcome (running -> outcome); a child that died without one gets handle_failure.

    Returns the state written, or None when the instance was no longer running this try (someone
    else decided: their state stands).
    """
    if not attempt.claimed:
        return None
    if attempt.outcome is not None:
        values = dict(attempt.outcome)
        new = values.pop("state")
    else:
        retry = RetryPolicy(**(attempt.request.get("retry") or {}))
        values = failure_values(
            retry,
            dag_id=attempt.request["dag_id"],
            task_id=attempt.request["task_id"],
            execution_date=attempt.execution_date,
            try_number=attempt.try_number,
            max_tries=attempt.max_tries,
            start_date=attempt.start_date,
            now=now,
        )
        new = values.pop("state")
        attempt.notes.append(
            f"The task process exited with code {returncode} without recording a state. Marking task as {new.upper()}."
        )
    if attempt.rendered_fields is not None and "rendered_fields" not in values:
        values["rendered_fields"] = attempt.rendered_fields
    xcoms = values.pop("xcoms", None)
    dataset_events = values.pop("dataset_events", None)
    task_map = values.pop("task_map", None)
    moved = set_ti_state(session, attempt.ti_id, old=TI.RUNNING, new=new, expect_try=attempt.try_number, **values)
    if not moved:
        request = attempt.request
        if end_restarted_try(
            session,
            attempt.ti_id,
            try_number=attempt.try_number,
            policy=RetryPolicy(**(request.get("retry") or {})),
            dag_id=request["dag_id"],
            task_id=request["task_id"],
            execution_date=attempt.execution_date,
            start_date=attempt.start_date,
            now=now,
        ):
            attempt.notes.append("The task instance was cleared while running. Marking task as UP_FOR_RETRY.")
            record_try_event(session, TI.FAILED.value, attempt.request, execution_date=attempt.execution_date)
            return TI.UP_FOR_RETRY.value
        attempt.notes.append(f"The task instance was changed while finishing; not recording {new}.")
        return None
    if new in FAILURE_STATES:
        record_try_event(session, TI.FAILED.value, attempt.request, execution_date=attempt.execution_date)
    if dataset_events:  # the try's dataset events land with its success (task-model §13)
        request = attempt.request
        record_dataset_events(
            session,
            dag_id=request["dag_id"],
            run_id=request["run_id"],
            task_id=request["task_id"],
            map_index=request.get("map_index", -1),
            events=dataset_events,
            now=now,
        )
    if task_map is not None:  # a mapped dependant's length lands with the success too
        record_task_map(session, attempt.request, task_map)
    if xcoms:  # the return value lands with the success, so a downstream task always finds it
        request = attempt.request
        store_xcoms(
            session,
            dag_id=request["dag_id"],
            run_id=request["run_id"],
            task_id=request["task_id"],
            map_index=request.get("map_index", -1),
            items=xcoms,
        )
    return new


def end_restarted_try(
    session: Session,
    ti_id: int,
    *,
    try_number: int,
    policy: RetryPolicy,
    dag_id: str,
    task_id: str,
    execution_date: datetime,
    start_date: datetime | None,
    now: datetime,
) -> bool:
    """A try cleared while it ran (restarting) ends up_for_retry, whatever its outcome and retries:
    the clear asked for it to run again (Airflow's handle_failure of a restarting instance)."""
    values = failure_values(
        policy,
        dag_id=dag_id,
        task_id=task_id,
        execution_date=execution_date,
        try_number=try_number,
        max_tries=0,
        start_date=start_date,
        now=now,
        restarting=True,
    )
    new = values.pop("state")
    return set_ti_state(session, ti_id, old=TI.RESTARTING, new=new, expect_try=try_number, **values)

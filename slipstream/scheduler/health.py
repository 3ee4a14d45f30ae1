"""Tries whose process is gone: executor exit events, zombies (no heartbeat), orphans of dead schedulers.

A try that ended without recording its outcome (killed with -9, out of memory, a crash in the
runner) gets Airflow's handle_failure: up_for_retry when retries are left, else failed.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, true, update
from sqlalchemy.orm import Session

from slipstream.scheduler.dag_specs import DagSpecCache
from slipstream.scheduler.executors.base import TaskEvent
from slipstream.scheduler.logs import append_to_log, log_path
from slipstream.scheduler.retries import RetryPolicy, failure_values
from slipstream.scheduler.transitions import set_ti_state
from slipstream.services.audit import record_try_event
from slipstream.states import TaskInstanceState as TI
from slipstream.storage.models import DagRun, Job, TaskInstance

logger = logging.getLogger(__name__)

SCHEDULER_JOB_TYPE = "SchedulerJob"


def register_job(session: Session, job_type: str, now: datetime) -> int:
    """A running job row for this process (scheduler, triggerer); its heartbeat tells others it lives."""
    job = Job(
        job_type=job_type,
        state="running",
        hostname=socket.getfqdn(),
        pid=os.getpid(),
        start_date=now,
        latest_heartbeat=now,
    )
    session.add(job)
    session.flush()
    return job.id


# States in which an instance's try has a process the executor reports on (restarting: cleared while
# running, its process being terminated).
_PROCESS_STATES = frozenset({TI.QUEUED.value, TI.RUNNING.value, TI.RESTARTING.value})


def _fail_try(
    session: Session,
    specs: DagSpecCache,
    row,
    *,
    now: datetime,
    reason: str,
    logs_folder,
) -> bool:
    """handle_failure for one try the scheduler found dead; row has id, dag_id, task_id, run_id, state,
    try_number, max_tries, start_date and the run's execution_date."""
    spec = specs.get(session, row.dag_id)
    task = spec.tasks.get(row.task_id) if spec is not None else None
    policy = task.retry if task is not None else RetryPolicy()
    values = failure_values(
        policy,
        dag_id=row.dag_id,
        task_id=row.task_id,
        execution_date=row.execution_date,
        try_number=row.try_number,
        max_tries=row.max_tries,
        start_date=row.start_date,
        now=now,
        restarting=row.state == TI.RESTARTING.value,
    )
    new = values.pop("state")
    moved = set_ti_state(session, row.id, old=row.state, new=new, expect_try=row.try_number, **values)
    if moved:
        record_try_event(session, TI.FAILED.value, _request_of(row, task), execution_date=row.execution_date)
        logger.warning(
            "%s.%s %s try %d: %s; marked %s", row.dag_id, row.task_id, row.run_id, row.try_number, reason, new
        )
        append_to_log(
            log_path(logs_folder, row.dag_id, row.run_id, row.task_id, row.try_number, row.map_index),
            f"{reason}. Marking task as {new.upper()}.",
            "ERROR",
        )
    return moved


def _request_of(row, task) -> dict:
    """What an event-log entry about the try needs, as a run request has it."""
    return {
        "dag_id": row.dag_id,
        "task_id": row.task_id,
        "run_id": row.run_id,
        "map_index": row.map_index,
        "try_number": row.try_number,
        "owner": task.owner if task is not None else None,
    }


def _try_rows(session: Session, *conditions):
    return session.execute(
        select(
            TaskInstance.id,
            TaskInstance.dag_id,
            TaskInstance.task_id,
            TaskInstance.run_id,
            TaskInstance.state,
            TaskInstance.try_number,
            TaskInstance.max_tries,
            TaskInstance.start_date,
            DagRun.execution_date,
            TaskInstance.map_index,
        )
        .join(DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id))
        .where(*conditions)
    ).all()


def handle_executor_events(
    session: Session, specs: DagSpecCache, events: Iterable[TaskEvent], *, now: datetime, logs_folder
) -> int:
    """Act on tries whose process ended while the database still says queued, running or restarting."""
    gone = {e.key: e for e in events if e.kind in ("exited", "lost")}
    if not gone:
        return 0
    changed = 0
    rows = _try_rows(session, TaskInstance.id.in_([key[0] for key in gone]))
    for row in rows:
        event = gone.get((row.id, row.try_number))
        if event is None or row.state not in _PROCESS_STATES:
            continue
        if event.kind == "lost":
            if row.state == TI.QUEUED.value and set_ti_state(
                session, row.id, old=TI.QUEUED, new=None, expect_try=row.try_number
            ):
                changed += 1
            continue
        reason = event.reason or f"The task process exited with code {event.returncode} without recording a state"
        changed += _fail_try(session, specs, row, now=now, reason=reason, logs_folder=logs_folder)
    return changed


def handle_zombies(session: Session, specs: DagSpecCache, *, now: datetime, threshold: float, logs_folder) -> int:
    """Running (or restarting) tries whose process stopped heartbeating for `threshold` seconds."""
    limit = now - timedelta(seconds=threshold)
    rows = _try_rows(
        session,
        TaskInstance.state.in_([TI.RUNNING.value, TI.RESTARTING.value]),
        or_(
            TaskInstance.last_heartbeat_at < limit,
            (TaskInstance.last_heartbeat_at.is_(None)) & (TaskInstance.start_date < limit),
        ),
    )
    changed = 0
    for row in rows:
        reason = f"Detected zombie: no heartbeat for more than {threshold:g} s"
        # Airflow's entry names the try, not its task or date (owner and execution_date empty).
        extra = (
            f"Task did not emit heartbeat within time limit ({threshold:g} seconds) and will be terminated. "
            "See https://airflow.apache.org/docs/apache-airflow/stable/core-concepts/tasks.html#zombie-undead-tasks"
        )
        record_try_event(session, "heartbeat timeout", _request_of(row, None), extra=extra)
        changed += _fail_try(session, specs, row, now=now, reason=reason, logs_folder=logs_folder)
    return changed


def reset_orphans(session: Session, *, my_job_id: int | None, now: datetime, health_threshold: float) -> int:
    """Schedulers silent for `health_threshold` are dead; tries they queued that never started run again.

    Their running tries are left alone: those processes may well be alive (they outlive the scheduler)
    and are judged by their own heartbeats.
    """
    limit = now - timedelta(seconds=health_threshold)
    # The caller is alive whatever its last heartbeat says: a pass slower than the threshold (a loaded
    # machine) must not make a scheduler reset its own queued tries and run them again as new ones.
    others = Job.id != my_job_id if my_job_id is not None else true()
    session.execute(
        update(Job)
        .where(Job.job_type == SCHEDULER_JOB_TYPE, Job.state == "running", Job.latest_heartbeat < limit, others)
        .values(state="failed", end_date=now)
        .execution_options(synchronize_session=False)
    )
    alive = select(Job.id).where(Job.job_type == SCHEDULER_JOB_TYPE, or_(Job.state == "running", Job.id == my_job_id))
    rows = session.execute(
        select(TaskInstance.id, TaskInstance.try_number).where(
            TaskInstance.state == TI.QUEUED.value,
            or_(TaskInstance.queued_by_job_id.is_(None), TaskInstance.queued_by_job_id.not_in(alive)),
        )
    ).all()
    reset = 0
    for ti_id, try_number in rows:
        reset += set_ti_state(session, ti_id, old=TI.QUEUED, new=None, expect_try=try_number)
    if reset:
        logger.warning("Reset %d queued task instance(s) left by a scheduler that is gone", reset)
    return reset


def reset_own_queued(session: Session, *, job_id: int) -> int:
    """At shutdown: tries we queued that never started go back to None, to run again later."""
    query = select(TaskInstance.id, TaskInstance.try_number).where(
        TaskInstance.state == TI.QUEUED.value, TaskInstance.queued_by_job_id == job_id
    )
    reset = 0
    for ti_id, try_number in session.execute(query).all():
        reset += set_ti_state(session, ti_id, old=TI.QUEUED, new=None, expect_try=try_number)
    return reset


class AnotherSchedulerRunning(RuntimeError):
    """A second scheduler on a SQLite database (which supports one)."""


def _pid_alive(pid: int | None) -> bool:
    """Is `pid` a live process on this host (a zombie not yet reaped counts as dead)?"""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return not handle.read().rsplit(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def live_scheduler(session: Session, *, now: datetime, health_threshold: float) -> Job | None:
    """A scheduler Job that looks alive: running, with a heartbeat younger than `health_threshold`.

    A Job of this host whose pid is gone (SIGKILLed, crashed, a restarted standalone child) is dead
    however fresh its heartbeat, so a restart right after a crash is not refused.
    """
    limit = now - timedelta(seconds=health_threshold)
    jobs = session.scalars(
        select(Job)
        .where(Job.job_type == SCHEDULER_JOB_TYPE, Job.state == "running", Job.latest_heartbeat >= limit)
        .order_by(Job.latest_heartbeat.desc())
    ).all()
    here = socket.getfqdn()
    for job in jobs:
        if job.hostname == here and (job.pid == os.getpid() or not _pid_alive(job.pid)):
            continue
        return job
    return None


def refuse_second_scheduler_on_sqlite(session: Session, *, now: datetime, health_threshold: float) -> None:
    """Raise AnotherSchedulerRunning when a live scheduler already uses this (SQLite) database."""
    job = live_scheduler(session, now=now, health_threshold=health_threshold)
    if job is not None:
        raise AnotherSchedulerRunning(
            f"another scheduler (job {job.id}, pid {job.pid} on host {job.hostname}) is running on this "
            "SQLite database; SQLite supports one scheduler — use PostgreSQL for several"
        )

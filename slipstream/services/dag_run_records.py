"""DAG runs as records (the stable API's view): filtered lists, one run, a user's marks, notes, deletion,
and the dataset events a run consumed.

The trigger is slipstream.services.dag_runs (shared with the experimental API and the CLI); clearing is
slipstream.services.clearing. State changes go through slipstream.scheduler.transitions, checked
against the one state machine (slipstream.states).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, delete, select, update
from sqlalchemy.orm import Session

from slipstream.dates import utcnow
from slipstream.scheduler.transitions import set_run_state, set_ti_state
from slipstream.services.serialized import get_serialized_dag
from slipstream.services.text_values import matchable
from slipstream.states import FINISHED_RUN_STATES, DagRunState
from slipstream.states import TaskInstanceState as TI
from slipstream.storage.dataset_models import DagRunDatasetEvent, DatasetEvent, DatasetModel
from slipstream.storage.models import (
    DagRun,
    TaskInstance,
    TaskInstanceHistory,
    TaskMap,
    TaskReschedule,
    XCom,
)

# API name -> column, for order_by (Airflow's whitelist; `dag_run_id` is the run_id column).
RUN_ORDERING = {
    "id": DagRun.id,
    "state": DagRun.state,
    "dag_id": DagRun.dag_id,
    "execution_date": DagRun.execution_date,
    "dag_run_id": DagRun.run_id,
    "start_date": DagRun.start_date,
    "end_date": DagRun.end_date,
    "updated_at": DagRun.updated_at,
    "external_trigger": DagRun.external_trigger,
    # JSON has no ordering operator on PostgreSQL: its text orders as Airflow's pickled bytes would, roughly.
    "conf": cast(DagRun.conf, Text),
}
NOTE_MAX_LENGTH = 1000


@dataclass(frozen=True)
class RunFilters:
    """A list's filters; None leaves a bound out. `dag_ids` None means every DAG."""

    dag_ids: Sequence[str] | None = None
    states: Sequence[str] | None = None
    execution_date_gte: datetime | None = None
    execution_date_lte: datetime | None = None
    start_date_gte: datetime | None = None
    start_date_lte: datetime | None = None
    end_date_gte: datetime | None = None
    end_date_lte: datetime | None = None
    updated_at_gte: datetime | None = None
    updated_at_lte: datetime | None = None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def run_json(run: Any, note: str | None = None) -> dict[str, Any]:
    """A DAGRun as Airflow dumps it, from a stored run or one just created (which has no dates yet)."""
    logical_date = _iso(run.execution_date)
    return {
        "conf": run.conf if run.conf is not None else {},
        "dag_id": run.dag_id,
        "dag_run_id": run.run_id,
        "data_interval_end": _iso(run.data_interval_end),
        "data_interval_start": _iso(run.data_interval_start),
        "end_date": _iso(getattr(run, "end_date", None)),
        "execution_date": logical_date,
        "external_trigger": bool(run.external_trigger),
        "last_scheduling_decision": _iso(getattr(run, "last_scheduling_decision", None)),
        "logical_date": logical_date,
        "note": getattr(run, "note", note),
        "run_type": run.run_type,
        "start_date": _iso(getattr(run, "start_date", None)),
        "state": run.state,
    }


def find_run(session: Session, dag_id: str, run_id: str, *, for_update: bool = False) -> DagRun | None:
    if not matchable(dag_id, run_id):
        return None
    query = select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
    if for_update:
        query = query.with_for_update()
    return session.scalar(query)


def _run_state_values(old: str, new: str, now: datetime) -> dict[str, Any]:
    """The dates Airflow's DagRun.set_state changes along with the state."""
    if new == DagRunState.QUEUED:
        return {"queued_at": now, "start_date": None, "end_date": None}
    if new in FINISHED_RUN_STATES and old not in FINISHED_RUN_STATES:
        return {"end_date": now}
    return {}


def _mark_tis(session: Session, rows: Iterable[Any], new: str, now: datetime) -> int:
    """Airflow's TaskInstance.set_state for each row: a start date if it had none, an end date and
    duration once finished. Returns how many moved (a row another writer moved first is left)."""
    moved = 0
    for row in rows:
        start = row.start_date or now
        end = row.end_date or now
        values = {"start_date": start, "end_date": end, "duration": (end - start).total_seconds()}
        moved += set_ti_state(session, row.id, old=row.state, new=new, **values)
    return moved


def mark_run(session: Session, run: DagRun, new: str) -> None:
    """Airflow's set_dag_run_state_to_success / _failed / _queued, on `run` (read for update).

    success: every instance of a task that is not a teardown becomes success. failed: instances that
    run or wait to resume fail, those not yet finished are skipped. In both, while a teardown is among
    the DAG's tasks (success) or among those instances (failed), the run's state is left to the
    scheduler, which runs the teardowns first. queued: only the run changes; the scheduler starts it.
    """
    now = utcnow()
    tasks = (get_serialized_dag(session, run.dag_id).get("tasks") or {}) if new != DagRunState.QUEUED else {}
    teardowns = {task_id for task_id, task in tasks.items() if task.get("is_teardown")}
    set_state = True
    if new in (DagRunState.SUCCESS, DagRunState.FAILED):
        rows = session.execute(
            select(
                TaskInstance.id,
                TaskInstance.task_id,
                TaskInstance.state,
                TaskInstance.start_date,
                TaskInstance.end_date,
            )
            .where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
            .with_for_update()
        ).all()
        if new == DagRunState.SUCCESS:
            set_state = not teardowns
            marked = [r for r in rows if r.task_id in tasks and r.task_id not in teardowns and r.state != TI.SUCCESS]
            _mark_tis(session, marked, TI.SUCCESS, now)
        else:
            waiting = {TI.RUNNING, TI.DEFERRED, TI.UP_FOR_RESCHEDULE}
            finished = {TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED}
            running = [r for r in rows if r.state in waiting]
            pending = [r for r in rows if r.state not in waiting and r.state not in finished]
            set_state = not any(r.task_id in teardowns for r in (*running, *pending))
            _mark_tis(session, [r for r in pending if r.task_id not in teardowns], TI.SKIPPED, now)
            _mark_tis(session, [r for r in running if r.task_id not in teardowns], TI.FAILED, now)
    if not set_state:
        return
    if run.state == new:
        if new == DagRunState.QUEUED:
            requeued = update(DagRun).where(DagRun.id == run.id).values(queued_at=now)
            session.execute(requeued.execution_options(synchronize_session=False))
        return
    set_run_state(session, run.id, old=run.state, new=new, **_run_state_values(run.state, new, now))


def set_note(session: Session, run: DagRun, note: str) -> None:
    session.execute(
        update(DagRun).where(DagRun.id == run.id).values(note=note).execution_options(synchronize_session=False)
    )


def delete_run(session: Session, dag_id: str, run_id: str) -> bool:
    """Remove the run with its task instances, their history, XComs, mapping lengths and reschedules,
    and the record of the dataset events it consumed (the events stay). False if there was no run."""
    if not matchable(dag_id, run_id):
        return False
    run_pk = session.scalar(select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if run_pk is None:
        return False
    session.execute(delete(DagRunDatasetEvent).where(DagRunDatasetEvent.dag_run_id == run_pk))
    for model in (XCom, TaskMap, TaskReschedule, TaskInstanceHistory, TaskInstance):
        session.execute(delete(model).where(model.dag_id == dag_id, model.run_id == run_id))
    session.execute(delete(DagRun).where(DagRun.id == run_pk))
    return True


def consumed_dataset_events(session: Session, run_pk: int) -> list[tuple[DatasetEvent, str]]:
    """The dataset events a dataset-triggered run consumed, with their datasets' URIs, oldest first."""
    rows = session.execute(
        select(DatasetEvent, DatasetModel.uri)
        .join(DagRunDatasetEvent, DagRunDatasetEvent.event_id == DatasetEvent.id)
        .join(DatasetModel, DatasetModel.id == DatasetEvent.dataset_id)
        .where(DagRunDatasetEvent.dag_run_id == run_pk)
        .order_by(DatasetEvent.timestamp, DatasetEvent.id)
    ).all()
    return [(event, uri) for event, uri in rows]

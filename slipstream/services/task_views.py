"""Tasks and task instances as Airflow's experimental endpoints show them: every value through str()."""

from __future__ import annotations

import functools
import getpass
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session

from slipstream.api.v1_problems import V1Problem
from slipstream.errors import NotFound
from slipstream.services.dag_runs import dag_run_repr, get_dag_run
from slipstream.services.ranges import range_conditions
from slipstream.services.serialized import get_serialized_dag, get_serialized_task
from slipstream.states import TaskInstanceState
from slipstream.storage.models import DagModel, DagRun, Job, Pool, TaskInstance, TaskInstanceHistory, Trigger


def get_task_attributes(session: Session, dag_id: str, task_id: str) -> dict[str, str]:
    _dag, task = get_serialized_task(session, dag_id, task_id)
    return dict(task["display"])


def _text(value: Any) -> str:
    return str(value)


def task_instance_to_json(ti: TaskInstance, run: DagRun) -> dict[str, str]:
    """Airflow 2.10.5's key set plus execution_date (read by 1.10's clients)."""
    fields: dict[str, Any] = {
        "custom_operator_name": ti.custom_operator_name,
        "dag_id": ti.dag_id,
        "dag_run": dag_run_repr(run),
        "duration": ti.duration,
        "end_date": ti.end_date,
        "execution_date": run.execution_date,
        "executor": ti.executor,
        "executor_config": ti.executor_config or {},
        "external_executor_id": ti.external_executor_id,
        "hostname": ti.hostname or "",
        "job_id": ti.job_id,
        "map_index": ti.map_index,
        "max_tries": ti.max_tries,
        "next_kwargs": None,
        "next_method": None,
        "operator": ti.operator,
        "pid": ti.pid,
        "pool": ti.pool,
        "pool_slots": ti.pool_slots,
        "priority_weight": ti.priority_weight,
        "queue": ti.queue,
        "queued_by_job_id": ti.queued_by_job_id,
        "queued_dttm": ti.queued_dttm,
        "rendered_map_index": ti.rendered_map_index,
        "rendered_task_instance_fields": None,
        "run_id": ti.run_id,
        "start_date": ti.start_date,
        "state": ti.state,
        "task_id": ti.task_id,
        "test_mode": False,
        "trigger_id": None,
        "trigger_timeout": None,
        "try_number": ti.try_number,
        "unixname": ti.unixname or "",
        "updated_at": ti.updated_at,
    }
    return {key: _text(value) for key, value in fields.items()}


def get_task_instance(session: Session, dag_id: str, execution_date: datetime, task_id: str) -> dict[str, str]:
    """Checks in Airflow's order: DAG, task, run, then the instance."""
    get_serialized_task(session, dag_id, task_id)
    run = get_dag_run(session, dag_id, execution_date)
    ti = session.scalar(
        select(TaskInstance).where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id == run.run_id,
            TaskInstance.task_id == task_id,
            TaskInstance.map_index == -1,
        )
    )
    if ti is None:
        raise NotFound(f"Task {task_id} instance for date {execution_date} not found")
    return task_instance_to_json(ti, run)


# -- the stable API (/api/v1): Airflow 2.10.5's TaskInstance schema ----------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def display_names(session: Session, dag_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """Each task's display name per DAG (the task ID when the DAG is no longer serialized)."""
    names: dict[str, dict[str, str]] = {}
    for dag_id in set(dag_ids):
        try:
            tasks = get_serialized_dag(session, dag_id)["tasks"]
        except NotFound:
            tasks = {}
        names[dag_id] = task_display_names(tasks)
    return names


def task_display_names(tasks: dict[str, Any]) -> dict[str, str]:
    """A serialized DAG's tasks' display names by task ID."""
    return {task_id: (task.get("display") or {}).get("task_display_name") or task_id for task_id, task in tasks.items()}


def trigger_json(trigger: Any) -> dict[str, Any]:
    return {
        "id": trigger.id,
        "classpath": trigger.classpath,
        "kwargs": "***",  # stored encrypted; Slipstream does not show a trigger's arguments
        "created_date": _iso(trigger.created_date),
        "triggerer_id": trigger.triggerer_id,
    }


def job_json(job: Any) -> dict[str, Any]:
    return {
        "id": job.id,
        "dag_id": None,
        "state": job.state,
        "job_type": job.job_type,
        "start_date": _iso(job.start_date),
        "end_date": _iso(job.end_date),
        "latest_heartbeat": _iso(job.latest_heartbeat),
        "executor_class": None,
        "hostname": job.hostname,
        "unixname": None,
    }


def _trigger_and_job(session: Session, trigger_id: int | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    if trigger_id is None:
        return None, None
    trigger = session.get(Trigger, trigger_id)
    if trigger is None:
        return None, None
    job = session.get(Job, trigger.triggerer_id) if trigger.triggerer_id is not None else None
    return trigger_json(trigger), None if job is None else job_json(job)


@functools.cache
def _unixname() -> str:
    """Airflow stamps every task instance with the user that created it; Slipstream's rows get theirs
    when they run, so one that never ran shows this process's user (that of the API, as Airflow's)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _try_fields(row: TaskInstance | TaskInstanceHistory, display_name: str) -> dict[str, Any]:
    """The fields a task instance and one of its tries share (Airflow's TaskInstanceHistory schema)."""
    return {
        "dag_id": row.dag_id,
        "dag_run_id": row.run_id,
        "duration": row.duration,
        "end_date": _iso(row.end_date),
        "executor": row.executor,
        "executor_config": str(row.executor_config or {}),
        "hostname": row.hostname or "",
        "map_index": row.map_index,
        "max_tries": row.max_tries,
        "operator": row.operator,
        "pid": row.pid,
        "pool": row.pool,
        "pool_slots": row.pool_slots,
        "priority_weight": row.priority_weight,
        "queue": row.queue,
        "queued_when": _iso(row.queued_dttm),
        "start_date": _iso(row.start_date),
        "state": row.state,
        "task_display_name": display_name,
        "task_id": row.task_id,
        "try_number": row.try_number,
        "unixname": row.unixname or _unixname(),
    }


def v1_task_instance(
    session: Session, ti: TaskInstance, execution_date: datetime, display_name: str | None = None
) -> dict[str, Any]:
    trigger, triggerer_job = _trigger_and_job(session, ti.trigger_id)
    return v1_task_instance_json(ti, execution_date, display_name, trigger, triggerer_job)


def v1_task_instance_json(
    ti: Any,
    execution_date: datetime | None,
    display_name: str | None,
    trigger: dict[str, Any] | None,
    triggerer_job: dict[str, Any] | None,
) -> dict[str, Any]:
    """Airflow's TaskInstance schema, from a TaskInstance row (or the same values read by a list)."""
    return {
        **_try_fields(ti, display_name or ti.task_id),
        "execution_date": _iso(execution_date),
        "note": ti.note,
        "rendered_fields": ti.rendered_fields or {},
        "rendered_map_index": ti.rendered_map_index,
        "sla_miss": None,
        "trigger": trigger,
        "triggerer_job": triggerer_job,
    }


@dataclass
class TaskInstanceFilters:
    """The filters of Airflow's task-instance lists; each list is an OR, the fields an AND."""

    execution_date_gte: datetime | None = None
    execution_date_lte: datetime | None = None
    start_date_gte: datetime | None = None
    start_date_lte: datetime | None = None
    end_date_gte: datetime | None = None
    end_date_lte: datetime | None = None
    updated_at_gte: datetime | None = None
    updated_at_lte: datetime | None = None
    duration_gte: float | None = None
    duration_lte: float | None = None
    states: list[str | None] | None = None
    pools: list[str] | None = None
    queues: list[str] | None = None
    executors: list[str] | None = None
    dag_ids: list[str] | None = None
    run_ids: list[str] | None = None
    task_ids: list[str] | None = None

    def conditions(self) -> list[Any]:
        found = range_conditions(
            (
                (DagRun.execution_date, self.execution_date_gte, self.execution_date_lte),
                (TaskInstance.start_date, self.start_date_gte, self.start_date_lte),
                (TaskInstance.end_date, self.end_date_gte, self.end_date_lte),
                (TaskInstance.updated_at, self.updated_at_gte, self.updated_at_lte),
                (TaskInstance.duration, self.duration_gte, self.duration_lte),
            )
        )
        if self.states is not None:
            named = [s for s in self.states if s is not None]
            either = [TaskInstance.state.in_(named)] if named else []
            if None in self.states:
                either.append(TaskInstance.state.is_(None))
            found.append(or_(*either) if either else false())
        for column, values in (
            (TaskInstance.pool, self.pools),
            (TaskInstance.queue, self.queues),
            (TaskInstance.executor, self.executors),
            (TaskInstance.dag_id, self.dag_ids),
            (TaskInstance.run_id, self.run_ids),
            (TaskInstance.task_id, self.task_ids),
        ):
            if values is not None:
                found.append(column.in_(values))
        return found


TI_STATE_VALUES = frozenset(s.value for s in TaskInstanceState)


def parse_ti_states(values: Iterable[str | None] | None) -> list[str | None] | None:
    """Airflow's _convert_ti_states: `none` (and null) is no state; anything else must be a state."""
    if not values:
        return None
    states: list[str | None] = []
    for value in values:
        if value in ("none", None):
            states.append(None)
        elif value in TI_STATE_VALUES:
            states.append(value)
        else:
            raise V1Problem(400, f"'{value}' is not a valid TaskInstanceState")
    return states


def _joined_run():
    return select(TaskInstance, DagRun.execution_date).join(
        DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id)
    )


def _page(session: Session, query, *, limit: int, offset: int | None) -> tuple[list[dict[str, Any]], int]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.execute(query.offset(offset or 0).limit(limit)).all()
    names = display_names(session, {ti.dag_id for ti, _ in rows})
    return [v1_task_instance(session, ti, when, names[ti.dag_id].get(ti.task_id)) for ti, when in rows], total


# order_by of listMapped: Airflow's fixed set, each then by map index.
_MAPPED_ORDER = {
    "state": (TaskInstance.state.asc(),),
    "-state": (TaskInstance.state.desc(),),
    "duration": (TaskInstance.duration.asc(),),
    "-duration": (TaskInstance.duration.desc(),),
    "start_date": (TaskInstance.start_date.asc(),),
    "-start_date": (TaskInstance.start_date.desc(),),
    "end_date": (TaskInstance.end_date.asc(),),
    "-end_date": (TaskInstance.end_date.desc(),),
}


def list_mapped_task_instances(
    session: Session,
    dag_id: str,
    run_id: str,
    task_id: str,
    filters: TaskInstanceFilters,
    *,
    order_by: str | None,
    limit: int,
    offset: int | None,
) -> tuple[list[dict[str, Any]], int]:
    base = [
        TaskInstance.dag_id == dag_id,
        TaskInstance.run_id == run_id,
        TaskInstance.task_id == task_id,
        TaskInstance.map_index >= 0,
    ]
    if not session.scalar(select(func.count()).select_from(_joined_run().where(*base).subquery())):
        # No instance (yet): an empty expansion is not a 404, a wrong name is.
        try:
            dag = get_serialized_dag(session, dag_id)
        except NotFound:
            raise V1Problem(404, title=f"DAG {dag_id} not found") from None
        task = dag["tasks"].get(task_id)
        if task is None:
            raise V1Problem(404, title=f"Task id {task_id} not found")
        if not task.get("mapping"):
            raise V1Problem(404, title=f"Task id {task_id} is not mapped")
    if order_by is None:
        ordering: tuple[Any, ...] = (TaskInstance.map_index.asc(),)
    elif order_by == "-map_index":
        ordering = (TaskInstance.map_index.desc(),)
    elif order_by in _MAPPED_ORDER:
        ordering = (*_MAPPED_ORDER[order_by], TaskInstance.map_index.asc())
    else:
        raise V1Problem(400, f"Ordering with '{order_by}' is not supported")
    query = _joined_run().where(*base, *filters.conditions()).order_by(*ordering)
    return _page(session, query, limit=limit, offset=offset)


def _not_found_ti() -> V1Problem:
    return V1Problem(404, title="Task instance not found")


def _mapped_ti() -> V1Problem:
    return V1Problem(
        404, "Task instance is mapped, add the map_index value to the URL", title="Task instance not found"
    )


def find_task_instance(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int | None
) -> tuple[TaskInstance, datetime]:
    """Airflow's lookup: without a map index, a mapped task's instances are a 404 saying so."""
    query = _joined_run().where(
        TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id
    )
    if map_index is not None:
        query = query.where(TaskInstance.map_index == map_index)
    rows = session.execute(query.limit(2)).all()
    if not rows:
        raise _not_found_ti()
    if len(rows) > 1 or (map_index is None and rows[0][0].map_index != -1):
        raise _mapped_ti()
    return rows[0][0], rows[0][1]


def get_v1_task_instance(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int | None = None
) -> dict[str, Any]:
    ti, execution_date = find_task_instance(session, dag_id, run_id, task_id, map_index)
    names = display_names(session, [dag_id])
    return v1_task_instance(session, ti, execution_date, names[dag_id].get(task_id))


def _instance_of(dag_id: str, run_id: str, task_id: str, map_index: int, model=TaskInstance) -> list[Any]:
    return [model.dag_id == dag_id, model.run_id == run_id, model.task_id == task_id, model.map_index == map_index]


def list_tries(session: Session, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
    """The recorded tries, oldest first, then the current row (unless it waits for its retry: its try
    is recorded already)."""
    history = session.scalars(
        select(TaskInstanceHistory)
        .where(*_instance_of(dag_id, run_id, task_id, map_index, TaskInstanceHistory))
        .order_by(TaskInstanceHistory.try_number)
    ).all()
    current = session.scalars(
        select(TaskInstance).where(
            *_instance_of(dag_id, run_id, task_id, map_index),
            or_(TaskInstance.state.is_(None), TaskInstance.state != TaskInstanceState.UP_FOR_RETRY.value),
        )
    ).all()
    name = display_names(session, [dag_id])[dag_id].get(task_id, task_id)
    return [_try_fields(row, name) for row in [*history, *current]]


def get_try(
    session: Session, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1
) -> dict[str, Any]:
    row: TaskInstance | TaskInstanceHistory | None = session.scalar(
        select(TaskInstance).where(
            *_instance_of(dag_id, run_id, task_id, map_index), TaskInstance.try_number == try_number
        )
    )
    if row is None:
        row = session.scalar(
            select(TaskInstanceHistory).where(
                *_instance_of(dag_id, run_id, task_id, map_index, TaskInstanceHistory),
                TaskInstanceHistory.try_number == try_number,
            )
        )
    if row is None:
        raise V1Problem(
            404,
            f"Task Instance not found for dag_id={dag_id}, run_id={run_id}, task_id={task_id}, "
            f"map_index={map_index}, try_number={try_number}.",
            title="Task instance not found",
        )
    name = display_names(session, [dag_id])[dag_id].get(task_id, task_id)
    return _try_fields(row, name)


def find_for_note(session: Session, dag_id: str, run_id: str, task_id: str, map_index: int) -> TaskInstance:
    """setNote's and /dependencies' lookup: exactly map_index (-1 when the URL has none)."""
    ti = session.scalar(select(TaskInstance).where(*_instance_of(dag_id, run_id, task_id, map_index)))
    if ti is None:
        raise V1Problem(404, title=f"Task Instance not found for dag_id={dag_id}, run_id={run_id}, task_id={task_id}")
    return ti


# -- /dependencies: the scheduler's dependencies a task instance fails (Airflow's SCHEDULER_QUEUED_DEPS) --

_QUEUEABLE = (None, TaskInstanceState.SCHEDULED.value)
_DONE = ("success", "skipped", "failed", "upstream_failed", "removed")


def _upstream_states(counts: dict[str, int], setups: dict[str, int]) -> str:
    return (
        f"_UpstreamTIStates(success={counts.get('success', 0)}, skipped={counts.get('skipped', 0)}, "
        f"failed={counts.get('failed', 0)}, upstream_failed={counts.get('upstream_failed', 0)}, "
        f"removed={counts.get('removed', 0)}, done={sum(counts.values())}, "
        f"success_setup={setups.get('success', 0)}, skipped_setup={setups.get('skipped', 0)})"
    )


def _trigger_rule_reason(session: Session, ti: TaskInstance, dag: dict[str, Any], task: dict[str, Any]) -> str | None:
    """Airflow's TriggerRuleDep message when the rule is not met yet, else None."""
    rule = task.get("trigger_rule") or "all_success"
    upstream_ids = list(task.get("upstream_task_ids") or [])
    if not upstream_ids or rule == "always":
        return None
    rows = session.execute(
        select(TaskInstance.task_id, TaskInstance.state).where(
            TaskInstance.dag_id == ti.dag_id,
            TaskInstance.run_id == ti.run_id,
            TaskInstance.task_id.in_(upstream_ids),
        )
    ).all()
    counts: dict[str, int] = {}
    setups: dict[str, int] = {}
    for task_id, state in rows:
        if state in _DONE:
            counts[state] = counts.get(state, 0) + 1
            if (dag["tasks"].get(task_id) or {}).get("is_setup"):
                setups[state] = setups.get(state, 0) + 1
    upstream = len(upstream_ids)
    success, skipped = counts.get("success", 0), counts.get("skipped", 0)
    failed, upstream_failed = counts.get("failed", 0), counts.get("upstream_failed", 0)
    removed, done = counts.get("removed", 0), sum(counts.values())
    ids = "{" + ", ".join(repr(t) for t in sorted(upstream_ids)) + "}"
    tail = f"upstream_states={_upstream_states(counts, setups)}, upstream_task_ids={ids}"
    prefix = f"Task's trigger rule '{rule}' requires"
    mapped = ti.map_index > -1
    if rule == "one_success" and success <= 0:
        return f"{prefix} one upstream task success, but none were found. {tail}"
    if rule == "one_failed" and not failed and not upstream_failed:
        return f"{prefix} one upstream task failure, but none were found. {tail}"
    if rule == "one_done" and success + failed <= 0:
        return f"{prefix} at least one upstream task failure or success but none were failed or success. {tail}"
    if rule == "all_success":
        missing = upstream - success - (removed if mapped else 0)
        if missing > 0:
            return f"{prefix} all upstream tasks to have succeeded, but found {missing} non-success(es). {tail}"
    if rule == "all_failed":
        missing = upstream - failed - upstream_failed - (removed if mapped else 0)
        if missing > 0:
            return f"{prefix} all upstream tasks to have failed, but found {missing} non-failure(s). {tail}"
    if rule in ("all_done", "all_done_setup_success") and done < upstream:
        return (
            f"{prefix} all upstream tasks to have completed, but found {upstream - done} task(s) that were "
            f"not done. {tail}"
        )
    if rule in ("none_failed", "none_failed_min_one_success"):
        missing = upstream - success - skipped - (removed if mapped else 0)
        if missing > 0:
            return (
                f"{prefix} all upstream tasks to have succeeded or been skipped, but found {missing} "
                f"non-success(es). {tail}"
            )
    if rule == "none_skipped" and (done < upstream or skipped > 0):
        return f"{prefix} all upstream tasks to not have been skipped, but found {skipped} task(s) skipped. {tail}"
    if rule == "all_skipped" and upstream - skipped > 0:
        return (
            f"{prefix} all upstream tasks to have been skipped, but found {upstream - skipped} task(s) in non "
            f"skipped state. {tail}"
        )
    return None


def failed_dependencies(session: Session, ti: TaskInstance) -> list[dict[str, str]]:
    """For an instance without a state or scheduled: the dependencies it fails, sorted by name."""
    if ti.state not in _QUEUEABLE:
        return []
    try:
        dag = get_serialized_dag(session, ti.dag_id)
    except NotFound:
        return []
    task = dag["tasks"].get(ti.task_id)
    if task is None:
        return []
    failing: list[dict[str, str]] = []
    if session.scalar(select(DagModel.is_paused).where(DagModel.dag_id == ti.dag_id)):
        failing.append({"name": "Dag Not Paused", "reason": f"Task's DAG '{ti.dag_id}' is paused."})
    run_state = session.scalar(select(DagRun.state).where(DagRun.dag_id == ti.dag_id, DagRun.run_id == ti.run_id))
    if run_state != "running":
        failing.append(
            {
                "name": "Dagrun Running",
                "reason": f"Task instance's dagrun was not in the 'running' state but in the state '{run_state}'.",
            }
        )
    if ti.state is None:
        failing.append({"name": "Task Instance State", "reason": "Task is in the 'None' state."})
    pool = session.scalar(select(Pool).where(Pool.pool == ti.pool))
    if pool is None:
        failing.append(
            {
                "name": "Pool Slots Available",
                "reason": f"Tasks using non-existent pool '{ti.pool}' will not be scheduled",
            }
        )
    elif pool.slots >= 0:
        occupying = [TaskInstanceState.QUEUED.value, TaskInstanceState.RUNNING.value]
        if pool.include_deferred:
            occupying.append(TaskInstanceState.DEFERRED.value)
        used = session.scalar(
            select(func.coalesce(func.sum(TaskInstance.pool_slots), 0)).where(
                TaskInstance.pool == ti.pool, TaskInstance.state.in_(occupying)
            )
        )
        open_slots = pool.slots - int(used or 0)
        if open_slots < ti.pool_slots:
            failing.append(
                {
                    "name": "Pool Slots Available",
                    "reason": f"Not scheduling since there are {open_slots} open slots in pool {ti.pool} "
                    f"and require {ti.pool_slots} pool slots",
                }
            )
    running = session.scalar(
        select(func.count()).where(
            TaskInstance.dag_id == ti.dag_id, TaskInstance.state == TaskInstanceState.RUNNING.value
        )
    )
    max_active_tasks = int(dag.get("max_active_tasks") or 16)
    if running and running >= max_active_tasks:
        failing.append(
            {
                "name": "Task Instance Slots Available",
                "reason": f"The maximum number of running tasks ({max_active_tasks}) for this task's DAG "
                f"'{ti.dag_id}' has been reached.",
            }
        )
    reason = _trigger_rule_reason(session, ti, dag, task)
    if reason is not None:
        failing.append({"name": "Trigger Rule", "reason": reason})
    return sorted(failing, key=lambda dep: dep["name"])

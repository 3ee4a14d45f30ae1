"""Clearing (Airflow's clear_task_instances): task instances start over, as DAG.clear does it.

Every instance of a clear loses its state and may run as many more tries as its task has retries; a
running one becomes `restarting` instead, so that its supervisor terminates the try, which then goes
up_for_retry whatever its retries. Finished runs of the cleared instances are queued again; running
ones carry on. Used by TriggerDagRunOperator(reset_dag_run=True), the stable API's POST
.../dagRuns/{run_id}/clear (whose dry run lists what would be cleared) and clearTaskInstances.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from slipstream.dates import utcnow
from slipstream.scheduler.transitions import set_run_state, set_ti_state
from slipstream.services.external_markers import follow_markers, serialized_tasks
from slipstream.services.task_history import record_tries
from slipstream.states import FINISHED_RUN_STATES, DagRunState
from slipstream.states import TaskInstanceState as TI
from slipstream.storage.models import DagRun, TaskInstance, TaskReschedule, Trigger


def clear_dag_run(session: Session, dag_id: str, run_id: str, *, follow_markers_too: bool = True) -> bool:
    """Clear every task instance of the run; False when the run does not exist. What its
    ExternalTaskMarkers reach in other DAGs is cleared too (MarkerError when one cannot be followed:
    then nothing is cleared)."""
    if session.scalar(select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)) is None:
        return False
    own = list(
        session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id))
    )
    tasks_of = serialized_tasks(session)
    reached = []
    if follow_markers_too:
        reached = [ti for ti, _ in follow_markers(session, own, states=None, tasks_of=tasks_of)]
    now = utcnow()
    clear_task_instances(session, own, tasks_of(dag_id) or {}, reset_dag_runs=True, now=now)
    if reached:
        clear_marked_external_instances(session, reached, now=now)
    return True


def task_instances_to_clear(session: Session, dag_id: str, run_id: str) -> list[tuple[TaskInstance, datetime]]:
    """What clearing the whole run touches, as Airflow's dry run lists it: every task instance of the
    run, then those its ExternalTaskMarkers reach in other DAGs (with their run's logical date).
    Raises MarkerError when a marker cannot be followed."""
    rows = session.execute(
        select(TaskInstance, DagRun.execution_date)
        .join(DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id))
        .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        .order_by(TaskInstance.task_id, TaskInstance.map_index)
    ).all()
    own = [(ti, when) for ti, when in rows]
    return own + follow_markers(session, [ti for ti, _ in own], states=None, tasks_of=serialized_tasks(session))


def clear_marked_external_instances(
    session: Session, reached: list[TaskInstance], *, now: datetime, reset_dag_runs: bool = True
) -> None:
    """Clear what ExternalTaskMarkers reached, DAG by DAG (each with its own tasks' retries), and queue
    their runs again, as Airflow's DAG.clear does for every run it touched."""
    tasks_of = serialized_tasks(session)
    for dag_id in sorted({ti.dag_id for ti in reached}):
        tis = [ti for ti in reached if ti.dag_id == dag_id]
        clear_task_instances(session, tis, tasks_of(dag_id) or {}, reset_dag_runs=reset_dag_runs, now=now)


def delete_unused_triggers(session: Session, *, fired: list[int], created_before: datetime) -> int:
    """Triggers no deferred instance waits on: those that just fired, and older ones left behind (their
    instance was cleared or timed out). A young trigger may be one whose instance is being deferred
    right now (the trigger row is written first), so it is kept until `created_before`."""
    waited_on = select(TaskInstance.trigger_id).where(
        TaskInstance.trigger_id.is_not(None), TaskInstance.state == TI.DEFERRED.value
    )
    unused = delete(Trigger).where(
        Trigger.id.not_in(waited_on), or_(Trigger.id.in_(fired), Trigger.created_date < created_before)
    )
    return session.execute(unused.execution_options(synchronize_session=False)).rowcount


# -- clearing chosen task instances (the stable API's clearTaskInstances; Airflow's DAG.clear) --------


@dataclass
class ClearRequest:
    """Which task instances of one DAG to clear: by run (or logical-date range), task and state."""

    task_ids: list[str] | None = None
    include_upstream: bool = False
    include_downstream: bool = False
    run_id: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    include_past: bool = False
    include_future: bool = False
    only_failed: bool = True
    only_running: bool = False
    # Airflow's include_subdags, passed to DAG.clear as include_dependent_dags: follow ExternalTaskMarkers.
    include_subdags: bool = False

    def state_filter(self) -> list[str] | None:
        if self.only_failed:
            return [TI.FAILED.value, TI.UPSTREAM_FAILED.value]
        if self.only_running:
            return [TI.RUNNING.value]
        return None


def task_relatives(tasks: dict[str, Any], task_ids: Iterable[str], *, upstream: bool, downstream: bool) -> list[str]:
    """`task_ids` and, as asked, every task upstream and downstream of them (transitively)."""
    chosen = [t for t in task_ids if t in tasks]
    found = set(chosen)
    for direction, wanted in (("upstream_task_ids", upstream), ("downstream_task_ids", downstream)):
        if wanted:
            found |= _flat_relatives(tasks, chosen, direction)
    return sorted(found)


def clear_subset(tasks: dict[str, Any], task_ids: Iterable[str], *, upstream: bool, downstream: bool) -> list[str]:
    """What clearing `task_ids` clears (Airflow's DAG.partial_subset): their relatives as asked, and the
    setups (with their teardowns) the chosen work needs, so that a cleared task runs in its setups'
    scope again; a cleared setup brings its teardowns."""
    chosen = [t for t in task_ids if t in tasks]
    found = set(chosen)

    def is_setup(task_id: str) -> bool:
        return bool(tasks[task_id].get("is_setup"))

    def is_teardown(task_id: str) -> bool:
        return bool(tasks[task_id].get("is_teardown"))

    def direct(task_id: str, direction: str) -> list[str]:
        return [t for t in tasks[task_id].get(direction) or () if t in tasks]

    def teardowns_of(setup: str, but: str) -> set[str]:
        return {t for t in direct(setup, "downstream_task_ids") if is_teardown(t) and t != but}

    def relevant_setups_and_teardowns(task_id: str) -> set[str]:
        # Upstream setups with no teardown, or with one downstream of the task, and their teardowns.
        downstream_teardowns = {t for t in _flat_relatives(tasks, [task_id], "downstream_task_ids") if is_teardown(t)}
        relevant: set[str] = set()
        for setup in _flat_relatives(tasks, [task_id], "upstream_task_ids"):
            if not is_setup(setup):
                continue
            teardowns = {t for t in direct(setup, "downstream_task_ids") if is_teardown(t)}
            if not teardowns or teardowns & downstream_teardowns:
                relevant |= {setup} | teardowns_of(setup, task_id)
        return relevant

    for task_id in chosen:
        if downstream:
            for relative in _flat_relatives(tasks, [task_id], "downstream_task_ids"):
                found.add(relative)
                if relative not in chosen and not is_setup(relative) and not is_teardown(relative):
                    found |= relevant_setups_and_teardowns(relative)
        if upstream:
            for relative in _flat_relatives(tasks, [task_id], "upstream_task_ids"):
                found.add(relative)
                if is_setup(relative):
                    found |= teardowns_of(relative, task_id)
        elif not is_setup(task_id) and not is_teardown(task_id):
            found |= relevant_setups_and_teardowns(task_id)
        if is_setup(task_id) and not downstream:
            found |= teardowns_of(task_id, "")
    return sorted(found)


def _flat_relatives(tasks: dict[str, Any], task_ids: Iterable[str], direction: str) -> set[str]:
    """Every task reached from `task_ids` along `direction` (upstream_task_ids or downstream_task_ids)."""
    todo = list(task_ids)
    seen: set[str] = set()
    while todo:
        for relative in (tasks.get(todo.pop()) or {}).get(direction) or ():
            if relative not in seen:
                seen.add(relative)
                todo.append(relative)
    return seen


def select_clearable(session: Session, dag_id: str, tasks: dict[str, Any], request: ClearRequest):
    """The (task instance, run's logical date) rows a clear concerns, ordered by date, task, map index;
    with include_subdags, then those the selected ExternalTaskMarkers reach in other DAGs."""
    query = (
        select(TaskInstance, DagRun.execution_date)
        .join(DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id))
        .where(TaskInstance.dag_id == dag_id)
        .order_by(DagRun.execution_date, TaskInstance.task_id, TaskInstance.map_index)
    )
    if request.task_ids is not None:
        chosen = clear_subset(
            tasks, request.task_ids, upstream=request.include_upstream, downstream=request.include_downstream
        )
        query = query.where(TaskInstance.task_id.in_(sorted(set(chosen) | set(request.task_ids))))
    start, end = request.start_date, request.end_date
    if request.include_past:
        start = None
    if request.include_future:
        end = None
    if start is not None:
        query = query.where(DagRun.execution_date >= start)
    if end is not None:
        query = query.where(DagRun.execution_date <= end)
    if request.state_filter() is not None:
        query = query.where(TaskInstance.state.in_(request.state_filter()))
    rows = [(ti, when) for ti, when in session.execute(query).all()]
    if request.include_subdags:
        rows += follow_markers(
            session, [ti for ti, _ in rows], states=request.state_filter(), tasks_of=serialized_tasks(session)
        )
    return rows


def clear_selected(
    session: Session, dag_id: str, tasks: dict[str, Any], tis: list[TaskInstance], *, reset_dag_runs: bool
) -> None:
    """Clear what select_clearable chose: the DAG's own instances with its tasks' retries, those its
    ExternalTaskMarkers reached with their own DAGs'."""
    now = utcnow()
    own = [ti for ti in tis if ti.dag_id == dag_id]
    clear_task_instances(session, own, tasks, reset_dag_runs=reset_dag_runs, now=now)
    external = [ti for ti in tis if ti.dag_id != dag_id]
    clear_marked_external_instances(session, external, now=now, reset_dag_runs=reset_dag_runs)


def clear_task_instances(
    session: Session, tis: list[TaskInstance], tasks: dict[str, Any], *, reset_dag_runs: bool, now: datetime
) -> None:
    """Airflow's clear_task_instances: each instance's current try goes to its history; a running one
    becomes restarting, any other loses its state and may run as many more tries as its task has
    retries (its try number is kept: the next try is scheduled as try_number + 1). With
    reset_dag_runs, the finished runs of the instances are queued again, one more clear counted."""
    cleared = [ti for ti in tis if ti.state is not None]
    record_tries(session, [ti.id for ti in cleared], now=now)
    for ti in cleared:
        if ti.state == TI.RUNNING:
            set_ti_state(session, ti.id, old=TI.RUNNING, new=TI.RESTARTING, expect_try=ti.try_number)
            continue
        retries = int((tasks.get(ti.task_id) or {}).get("retries") or 0)
        set_ti_state(
            session,
            ti.id,
            old=ti.state,
            new=None,
            max_tries=ti.try_number + retries,
            next_retry_at=None,
            trigger_id=None,
            trigger_timeout=None,
            next_method=None,
            next_kwargs=None,
            external_executor_id=None,
        )
    # A reschedule-mode sensor's timeout starts again.
    for dag_id, run_id in sorted({(ti.dag_id, ti.run_id) for ti in cleared}):
        session.execute(
            delete(TaskReschedule).where(
                TaskReschedule.dag_id == dag_id,
                TaskReschedule.run_id == run_id,
                TaskReschedule.task_id.in_(sorted({ti.task_id for ti in cleared if ti.run_id == run_id})),
            )
        )
    if not reset_dag_runs:
        return
    for dag_id, run_id in sorted({(ti.dag_id, ti.run_id) for ti in tis}):
        run = session.execute(
            select(DagRun.id, DagRun.state, DagRun.clear_number).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
        ).first()
        if run is not None and run.state in FINISHED_RUN_STATES:
            # Airflow's DagRun.state setter: queued now, no start or end, no scheduling decision yet.
            set_run_state(
                session,
                run.id,
                old=run.state,
                new=DagRunState.QUEUED,
                queued_at=now,
                start_date=None,
                end_date=None,
                last_scheduling_decision=None,
                clear_number=(run.clear_number or 0) + 1,
            )

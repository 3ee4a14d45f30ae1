"""The critical section (engine-semantics §4-5): scheduled -> queued within pools and concurrency limits.

Candidates come in priority order (priority_weight desc, the run's logical date asc, map_index asc).
A pool with no open slot, a DAG at max_active_tasks, or a full executor excludes the rest of its
candidates for this pass; the query is run again without them, so lower-priority work can fill
capacity that is free.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from slipstream.scheduler.dag_specs import DagSpecCache
from slipstream.scheduler.retries import RetryPolicy
from slipstream.scheduler.transitions import set_tis_state
from slipstream.states import OCCUPYING_TI_STATES, DagRunState
from slipstream.states import TaskInstanceState as TI
from slipstream.storage.models import DagModel, DagRun, Pool, TaskInstance

logger = logging.getLogger(__name__)

_MAX_PASSES = 4
_OCCUPYING = [s.value for s in OCCUPYING_TI_STATES]


@dataclass(frozen=True)
class QueuedTask:
    """What an executor needs to run one try of a task instance."""

    ti_id: int
    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int
    priority_weight: int
    pool: str
    queue: str
    fileloc: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    inlets: tuple[str, ...] = ()
    outlets: tuple[str, ...] = ()
    owner: str | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.ti_id, self.try_number)


def _task_extras(spec, task_id: str) -> dict:
    task = spec.tasks.get(task_id)
    if task is None:
        return {}
    return {"retry": task.retry, "inlets": task.inlets, "outlets": task.outlets, "owner": task.owner}


def _open_slots(session: Session) -> dict[str, float]:
    # Several schedulers (PostgreSQL): lock every pool row first, as Airflow's critical section does
    # (Pool.slots_stats(lock_rows=True)). A second scheduler waits here until the first commits its
    # queued tries, and only then counts what occupies the pools, so two schedulers can never both
    # fill the last open slots. Ordered by name so the lock order is the same everywhere. (SQLite
    # ignores FOR UPDATE; its single writer already serializes this.)
    rows = session.execute(
        select(Pool.pool, Pool.slots, Pool.include_deferred).order_by(Pool.pool).with_for_update()
    ).all()
    pools = {name: slots for name, slots, _ in rows}
    used = dict(
        session.execute(
            select(TaskInstance.pool, func.sum(TaskInstance.pool_slots))
            .where(TaskInstance.state.in_(_OCCUPYING))
            .group_by(TaskInstance.pool)
        ).all()
    )
    counting_deferred = [name for name, _, include_deferred in rows if include_deferred]
    if counting_deferred:  # deferred tries hold a slot only in these pools (Airflow's rule)
        for name, slots in session.execute(
            select(TaskInstance.pool, func.sum(TaskInstance.pool_slots))
            .where(TaskInstance.state == TI.DEFERRED.value, TaskInstance.pool.in_(counting_deferred))
            .group_by(TaskInstance.pool)
        ).all():
            used[name] = (used.get(name) or 0) + (slots or 0)
    return {name: math.inf if slots == -1 else slots - (used.get(name) or 0) for name, slots in pools.items()}


def queue_scheduled_tasks(
    session: Session,
    specs: DagSpecCache,
    *,
    now: datetime,
    job_id: int | None,
    executor_slots: float,
    max_tis: int,
) -> list[QueuedTask]:
    """Move what fits from scheduled to queued (one UPDATE) and return it, highest priority first."""
    budget = min(max_tis, executor_slots)
    if budget <= 0:
        return []
    open_slots = _open_slots(session)
    budget = min(budget, sum(max(0.0, v) for v in open_slots.values()))
    if budget <= 0:
        return []
    totals = dict(session.execute(select(Pool.pool, Pool.slots)).all())
    active_per_dag: dict[str, int] | None = None
    starved_pools: set[str] = set()
    starved_dags: set[str] = set()
    accepted: list[QueuedTask] = []
    accepted_ids: set[int] = set()
    warned: set[tuple[str, str]] = set()

    for _ in range(_MAX_PASSES):
        query = (
            select(
                TaskInstance.id,
                TaskInstance.dag_id,
                TaskInstance.task_id,
                TaskInstance.run_id,
                TaskInstance.map_index,
                TaskInstance.try_number,
                TaskInstance.priority_weight,
                TaskInstance.pool,
                TaskInstance.pool_slots,
                TaskInstance.queue,
            )
            .join(DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id))
            .join(DagModel, DagModel.dag_id == TaskInstance.dag_id)
            .where(
                TaskInstance.state == TI.SCHEDULED.value,
                DagRun.state == DagRunState.RUNNING.value,
                DagRun.run_type != "backfill",
                DagModel.is_paused.is_(False),
            )
            .order_by(TaskInstance.priority_weight.desc(), DagRun.execution_date, TaskInstance.map_index)
            .limit(max_tis)
            .with_for_update(of=TaskInstance, skip_locked=True)
        )
        if starved_pools:
            query = query.where(TaskInstance.pool.not_in(starved_pools))
        if starved_dags:
            query = query.where(TaskInstance.dag_id.not_in(starved_dags))
        if accepted_ids:
            query = query.where(TaskInstance.id.not_in(accepted_ids))
        rows = session.execute(query).all()
        if not rows:
            break
        if active_per_dag is None:
            active_per_dag = dict(
                session.execute(
                    select(TaskInstance.dag_id, func.count())
                    .where(TaskInstance.state.in_(_OCCUPYING))
                    .group_by(TaskInstance.dag_id)
                ).all()
            )
        dag_specs = specs.get_many(session, {row[1] for row in rows})
        newly_starved = False
        for ti_id, dag_id, task_id, run_id, map_index, try_number, priority, pool, pool_slots, queue in rows:
            if len(accepted) >= budget:
                break
            if pool in starved_pools or dag_id in starved_dags:
                continue
            if pool not in open_slots:
                if (pool, task_id) not in warned:
                    logger.warning("Task %s.%s is in pool %r, which does not exist; it waits", dag_id, task_id, pool)
                    warned.add((pool, task_id))
                starved_pools.add(pool)
                newly_starved = True
                continue
            if open_slots[pool] <= 0:
                starved_pools.add(pool)
                newly_starved = True
                continue
            if totals.get(pool, 0) != -1 and pool_slots > totals.get(pool, 0):
                if (pool, task_id) not in warned:
                    logger.warning(
                        "Task %s.%s needs %d slots of pool %r, which has only %s",
                        dag_id,
                        task_id,
                        pool_slots,
                        pool,
                        totals.get(pool),
                    )
                    warned.add((pool, task_id))
                continue
            if pool_slots > open_slots[pool]:
                continue
            spec = dag_specs.get(dag_id)
            if spec is None:
                continue
            if active_per_dag.get(dag_id, 0) >= spec.max_active_tasks:
                starved_dags.add(dag_id)
                newly_starved = True
                continue
            open_slots[pool] -= pool_slots
            active_per_dag[dag_id] = active_per_dag.get(dag_id, 0) + 1
            accepted_ids.add(ti_id)
            accepted.append(
                QueuedTask(
                    ti_id=ti_id,
                    dag_id=dag_id,
                    task_id=task_id,
                    run_id=run_id,
                    map_index=map_index,
                    try_number=try_number,
                    priority_weight=priority,
                    pool=pool,
                    queue=queue,
                    fileloc=spec.fileloc,
                    **_task_extras(spec, task_id),
                )
            )
        if len(accepted) >= budget or not newly_starved or len(rows) < max_tis:
            break

    if accepted:
        moved = set_tis_state(
            session,
            [task.ti_id for task in accepted],
            old=TI.SCHEDULED,
            new=TI.QUEUED,
            queued_dttm=now,
            queued_by_job_id=job_id,
        )
        if moved != len(accepted):  # another scheduler took some: hand over only what is ours
            ours = set(
                session.scalars(
                    select(TaskInstance.id).where(
                        TaskInstance.id.in_([t.ti_id for t in accepted]),
                        TaskInstance.state == TI.QUEUED.value,
                        TaskInstance.queued_by_job_id == job_id,
                        TaskInstance.queued_dttm == now,
                    )
                )
            )
            accepted = [t for t in accepted if t.ti_id in ours]
    return accepted

"""Expanding mapped tasks in a run (task-model-semantics §11): the database side of dagrun's decisions.

A mapped task's run starts with one placeholder instance (map_index -1). When it may run, its count
is the product of its factors: literal lengths from the serialized DAG, and each producer's length:
the `task_map` row an unmapped producer recorded with its success, or the number of return values
a mapped producer pushed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from slipstream.dates import utcnow
from slipstream.scheduler.dag_specs import DagSpec
from slipstream.scheduler.dependencies import Decision
from slipstream.scheduler.transitions import set_ti_state
from slipstream.services.run_task_instances import new_task_instance_columns
from slipstream.states import FINISHED_TI_STATES, SCHEDULABLE_TI_STATES, UNFINISHED_TI_STATES
from slipstream.states import TaskInstanceState as TI
from slipstream.storage.models import DagRun, TaskInstance, TaskMap, XCom

if TYPE_CHECKING:
    from slipstream.scheduler.dagrun import Expansion, NewMapIndexes, TiRow


def map_lengths(session: Session, run: DagRun, spec: DagSpec, tis: list[TiRow]) -> dict[str, int | None]:
    """Known lengths of the producers that placeholders still waiting to expand map over."""
    # Placeholders waiting to expand, and expanded tasks with an instance to schedule: a re-run (a
    # clear) counts them again, to remove or add map indexes.
    waiting = {
        ti.task_id
        for ti in tis
        if ti.state in SCHEDULABLE_TI_STATES and (t := spec.tasks.get(ti.task_id)) and t.mapping
    }
    producers = {p for task_id in waiting for p in factor_producers(spec.tasks[task_id].mapping["factors"])}
    if not producers:
        return {}
    lengths: dict[str, int | None] = dict(
        session.execute(
            select(TaskMap.task_id, TaskMap.length).where(
                TaskMap.dag_id == run.dag_id,
                TaskMap.run_id == run.run_id,
                TaskMap.task_id.in_(producers),
                TaskMap.map_index == -1,
            )
        ).all()
    )
    mapped = [p for p in producers if p not in lengths and (t := spec.tasks.get(p)) is not None and t.mapping]
    if mapped:
        counts = dict(
            session.execute(
                select(XCom.task_id, func.count())
                .where(
                    XCom.dag_id == run.dag_id,
                    XCom.run_id == run.run_id,
                    XCom.task_id.in_(mapped),
                    XCom.key == "return_value",
                    XCom.map_index >= 0,
                )
                .group_by(XCom.task_id)
            ).all()
        )
        for producer in mapped:
            lengths[producer] = counts.get(producer, 0)
    return lengths


class NotExpandable(Exception):
    """The count cannot be had now: the instance waits, or is flagged with `decision`."""

    def __init__(self, decision: Decision):
        super().__init__(decision.value)
        self.decision = decision


def factor_producers(factors: list[dict[str, Any]]):
    """The task ids whose return values the factors count (inside zip/concat too)."""
    for factor in factors:
        if "xcom" in factor:
            yield factor["xcom"]
        for nested in ("zip", "concat"):
            if nested in factor:
                yield from factor_producers(factor[nested])


def mapped_length(
    factors: list[dict[str, Any]],
    producer_states: Callable[[str], tuple[str | None, ...]],
    known: Mapping[str, int | None],
) -> int:
    """The product of the factors' lengths: a literal's, a producer's, zip's min (max with a
    fillvalue) or concat's sum of theirs."""
    length = 1
    for factor in factors:
        length *= _factor_length(factor, producer_states, known)
    return length


def _factor_length(factor: dict[str, Any], producer_states, known) -> int:
    if "literal" in factor:
        return int(factor["literal"])
    if "zip" in factor:
        lengths = [_factor_length(f, producer_states, known) for f in factor["zip"]]
        return max(lengths) if factor.get("fill") else min(lengths)
    if "concat" in factor:
        return sum(_factor_length(f, producer_states, known) for f in factor["concat"])
    states = producer_states(factor["xcom"])
    if any(state in (TI.FAILED, TI.UPSTREAM_FAILED) for state in states):
        raise NotExpandable(Decision.UPSTREAM_FAILED)
    if states and all(state == TI.SKIPPED for state in states):
        raise NotExpandable(Decision.SKIP)
    if any(state in UNFINISHED_TI_STATES for state in states):
        raise NotExpandable(Decision.WAIT)  # a group member not downstream of the producer itself
    length = known.get(factor["xcom"])
    if length is None:
        raise NotExpandable(Decision.UPSTREAM_FAILED)
    return length


def apply_expansions(session: Session, run: DagRun, spec: DagSpec, expansions: list[Expansion]) -> int:
    """The placeholder becomes index 0 in place; indexes 1..n-1 are inserted in its new state."""
    moved = 0
    for expansion in expansions:
        values = {"map_index": 0, "try_number": expansion.try_number}
        if expansion.state is not None:
            if not set_ti_state(session, expansion.ti_id, old=None, new=expansion.state, **values):
                continue
        else:
            changed = session.execute(
                update(TaskInstance)
                .where(TaskInstance.id == expansion.ti_id, TaskInstance.map_index == -1, TaskInstance.state.is_(None))
                .values(updated_at=utcnow(), **values)
                .execution_options(synchronize_session=False)
            ).rowcount
            if not changed:
                continue
        columns: dict[str, Any] = new_task_instance_columns(spec.data["tasks"][expansion.task_id])
        now = utcnow()
        rows = [
            {
                **columns,
                "dag_id": run.dag_id,
                "run_id": run.run_id,
                "map_index": index,
                "state": expansion.state,
                "try_number": expansion.try_number,
                "updated_at": now,
            }
            for index in range(1, expansion.length)
        ]
        if rows:
            session.execute(insert(TaskInstance), rows)
        moved += expansion.length
    return moved


def add_map_indexes(session: Session, run: DagRun, spec: DagSpec, additions: list[NewMapIndexes]) -> int:
    """The indexes a revised mapped task lacks, inserted (the run is locked by this examination)."""
    added = 0
    now = utcnow()
    for addition in additions:
        columns: dict[str, Any] = new_task_instance_columns(spec.data["tasks"][addition.task_id])
        rows = [
            {
                **columns,
                "dag_id": run.dag_id,
                "run_id": run.run_id,
                "map_index": index,
                "state": addition.state,
                "try_number": addition.try_number,
                "updated_at": now,
            }
            for index in addition.map_indexes
        ]
        session.execute(insert(TaskInstance), rows)
        added += len(rows)
    return added


def revise_literal_map_indexes(session: Session, run: DagRun, spec: DagSpec) -> int:
    """A DAG version whose literal mapping has another length (Airflow's verify_integrity): indexes
    past the new count are removed, removed ones within it come back unscheduled. Missing indexes
    are added when the task is next scheduled (_revise_map_indexes)."""
    counts = {
        task_id: mapped_length(task.mapping["factors"], lambda _producer: (), {})
        for task_id, task in spec.tasks.items()
        if task.mapping and not list(factor_producers(task.mapping["factors"]))
    }
    if not counts:
        return 0
    rows = session.execute(
        select(TaskInstance.id, TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state).where(
            TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id, TaskInstance.task_id.in_(counts)
        )
    ).all()
    moved = 0
    for ti_id, task_id, map_index, state in rows:
        count = counts[task_id]
        if state == TI.REMOVED and 0 <= map_index < count:
            moved += set_ti_state(session, ti_id, old=TI.REMOVED, new=None)
        elif map_index >= count and state in INDEX_REMOVABLE:
            moved += set_ti_state(session, ti_id, old=state, new=TI.REMOVED)
    return moved


# What a revision of map indexes may mark removed: everything but a try in flight (Airflow marks every
# index past the new length; a clear leaves none in flight but a try it could not stop).
INDEX_REMOVABLE = frozenset({None, TI.SCHEDULED, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE, *FINISHED_TI_STATES}) - {
    TI.REMOVED
}


def record_task_map(session: Session, request: Mapping[str, Any], task_map: Mapping[str, Any]) -> None:
    """Written with the producer's success, in the same transaction (an earlier try's row replaced)."""
    where = (
        TaskMap.dag_id == request["dag_id"],
        TaskMap.run_id == request["run_id"],
        TaskMap.task_id == request["task_id"],
        TaskMap.map_index == request.get("map_index", -1),
    )
    session.execute(TaskMap.__table__.delete().where(*where))
    session.execute(
        insert(TaskMap).values(
            dag_id=request["dag_id"],
            run_id=request["run_id"],
            task_id=request["task_id"],
            map_index=request.get("map_index", -1),
            length=task_map["length"],
            keys=task_map.get("keys"),
        )
    )

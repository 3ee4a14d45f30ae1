"""Serialized DAGs as the scheduler uses them, parsed once per DAG version (dag_hash) and cached."""

from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipstream.scheduler.retries import RetryPolicy
from slipstream.scheduler.setup_scopes import run_state_leaves, with_setup_scopes
from slipstream.services.run_task_instances import admits_run_at
from slipstream.storage.models import SerializedDagModel


def _date(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class TaskSpec:
    task_id: str
    trigger_rule: str
    upstream: tuple[str, ...]
    downstream: tuple[str, ...]
    is_empty: bool
    depends_on_past: bool
    retry: RetryPolicy
    start_date: datetime | None
    end_date: datetime | None
    inlets: tuple[str, ...] = ()
    outlets: tuple[str, ...] = ()
    is_setup: bool = False
    is_teardown: bool = False
    on_failure_fail_dagrun: bool = False
    # Setups among the direct upstreams (what all_done_setup_success counts), and the setups further
    # up whose scope covers this task (they must succeed before it runs; task-model §12).
    direct_setups: tuple[str, ...] = ()
    indirect_setups: tuple[str, ...] = ()
    # A mapped task's {"factors": [...], "group": ...} (slipstream.sdk.mapping), else None.
    mapping: dict[str, Any] | None = None
    # A brancher or short-circuit, whose skipmixin_key XCom decides on its direct downstream tasks.
    skipmixin: bool = False
    # Direct upstream tasks that are such (filled by DagSpec.from_serialized).
    skipmixin_parents: tuple[str, ...] = ()
    # start_trigger_args and start_from_trigger (slipstream.sdk.serialization._start_trigger), else None.
    start_trigger: dict[str, Any] | None = None
    execution_timeout: float | None = None
    owner: str | None = None  # the owner of the engine's event-log entries about the task's tries

    @classmethod
    def from_serialized(cls, task: dict[str, Any]) -> TaskSpec:
        return cls(
            task_id=task["task_id"],
            trigger_rule=task.get("trigger_rule") or "all_success",
            upstream=tuple(task.get("upstream_task_ids") or ()),
            downstream=tuple(task.get("downstream_task_ids") or ()),
            is_empty=bool(task.get("is_empty")),
            depends_on_past=bool(task.get("depends_on_past")),
            retry=RetryPolicy.from_serialized(task),
            start_date=_date(task.get("start_date")),
            end_date=_date(task.get("end_date")),
            inlets=tuple(task.get("inlets") or ()),
            outlets=tuple(task.get("outlets") or ()),
            is_setup=bool(task.get("is_setup")),
            is_teardown=bool(task.get("is_teardown")),
            on_failure_fail_dagrun=bool(task.get("on_failure_fail_dagrun")),
            mapping=task.get("mapping"),
            skipmixin=bool(task.get("inherits_from_skipmixin")),
            start_trigger=task.get("start_trigger"),
            execution_timeout=task.get("execution_timeout"),
            owner=task.get("owner"),
        )

    def admits(self, logical_date: datetime) -> bool:
        """Whether a run at `logical_date` gets an instance of this task (its start/end dates allow it)."""
        return admits_run_at(self.start_date, self.end_date, logical_date)


@dataclass(frozen=True)
class DagSpec:
    dag_id: str
    dag_hash: str
    data: dict[str, Any]
    tasks: dict[str, TaskSpec]
    # Upstream before downstream, so one pass over it settles every trigger-rule flag.
    topological_order: tuple[str, ...]
    leaves: frozenset[str]
    schedule: dict[str, Any]
    catchup: bool
    max_active_runs: int
    max_active_tasks: int
    dagrun_timeout: float | None
    # The schedule's bounds: the earliest start date of the DAG and its tasks, and the DAG's end date.
    earliest: datetime | None
    latest: datetime | None

    @functools.cached_property
    def has_mapped_tasks(self) -> bool:
        return any(task.mapping is not None for task in self.tasks.values())

    @functools.cached_property
    def has_skipmixin_tasks(self) -> bool:
        return any(t.skipmixin for t in self.tasks.values())

    @property
    def has_depends_on_past(self) -> bool:
        return any(task.depends_on_past for task in self.tasks.values())

    @property
    def fileloc(self) -> str:
        return self.data.get("fileloc") or ""

    @classmethod
    def from_serialized(cls, data: dict[str, Any], dag_hash: str) -> DagSpec:
        tasks = {task_id: TaskSpec.from_serialized(task) for task_id, task in data["tasks"].items()}
        if any(t.is_setup for t in tasks.values()):
            tasks = with_setup_scopes(tasks)
        if any(t.skipmixin for t in tasks.values()):
            branchers = {task_id for task_id, task in tasks.items() if task.skipmixin}
            tasks = {
                task_id: replace(task, skipmixin_parents=tuple(u for u in task.upstream if u in branchers))
                for task_id, task in tasks.items()
            }
        starts = [d for d in [_date(data.get("start_date")), *(t.start_date for t in tasks.values())] if d]
        return cls(
            dag_id=data["dag_id"],
            dag_hash=dag_hash,
            data=data,
            tasks=tasks,
            topological_order=_topological_order(tasks),
            leaves=run_state_leaves(tasks),
            schedule=data.get("schedule") or {"type": "none"},
            catchup=bool(data.get("catchup", True)),
            max_active_runs=int(data.get("max_active_runs") or 16),
            max_active_tasks=int(data.get("max_active_tasks") or 16),
            dagrun_timeout=data.get("dagrun_timeout"),
            earliest=min(starts) if starts else None,
            latest=_date(data.get("end_date")),
        )


def _topological_order(tasks: dict[str, TaskSpec]) -> tuple[str, ...]:
    pending = {task_id: sum(1 for up in spec.upstream if up in tasks) for task_id, spec in tasks.items()}
    ready = deque(sorted(task_id for task_id, count in pending.items() if count == 0))
    order: list[str] = []
    while ready:
        task_id = ready.popleft()
        order.append(task_id)
        for down in tasks[task_id].downstream:
            if down in pending:
                pending[down] -= 1
                if pending[down] == 0:
                    ready.append(down)
    if len(order) < len(tasks):  # a cycle (the dag processor refuses those): keep every task anyway
        order += sorted(set(tasks) - set(order))
    return tuple(order)


class DagSpecCache:
    """dag_id -> DagSpec; a DAG's JSON is parsed again only when its dag_hash changes.

    Hashes are checked at most every `refresh_interval` seconds per DAG (Airflow waits 10 s between
    serialized DAG fetches): a changed DAG file takes effect that much later, and a busy loop does
    not read every DAG's row on every pass.
    """

    def __init__(self, refresh_interval: float = 1.0) -> None:
        self.refresh_interval = refresh_interval
        self._specs: dict[str, DagSpec] = {}
        self._checked: dict[str, float] = {}

    def get_many(self, session: Session, dag_ids: Iterable[str]) -> dict[str, DagSpec]:
        wanted = set(dag_ids)
        if not wanted:
            return {}
        now = time.monotonic()
        to_check = [
            d for d in wanted if d not in self._specs or now - self._checked.get(d, 0.0) >= self.refresh_interval
        ]
        if to_check:
            hashes = dict(
                session.execute(
                    select(SerializedDagModel.dag_id, SerializedDagModel.dag_hash).where(
                        SerializedDagModel.dag_id.in_(to_check)
                    )
                ).all()
            )
            for dag_id in to_check:
                if dag_id not in hashes:  # deleted, or not parsed yet
                    self._specs.pop(dag_id, None)
                    self._checked.pop(dag_id, None)
            stale = [d for d, h in hashes.items() if (s := self._specs.get(d)) is None or s.dag_hash != h]
            if stale:
                rows = session.execute(
                    select(SerializedDagModel.dag_id, SerializedDagModel.data, SerializedDagModel.dag_hash).where(
                        SerializedDagModel.dag_id.in_(stale)
                    )
                ).all()
                for dag_id, data, dag_hash in rows:
                    self._specs[dag_id] = DagSpec.from_serialized(data, dag_hash)
            for dag_id in hashes:
                self._checked[dag_id] = now
        return {dag_id: self._specs[dag_id] for dag_id in wanted if dag_id in self._specs}

    def get(self, session: Session, dag_id: str) -> DagSpec | None:
        return self.get_many(session, [dag_id]).get(dag_id)

"""Examining running DAG runs (Airflow's update_state + schedule_tis): what each task instance becomes
next, and whether the run is finished.

`examine_run` is pure; `examine_running_runs` reads the runs, applies the decisions through
slipstream.scheduler.transitions, one transaction per call (the caller's session).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from slipstream.models import DagModel, DagRun, TaskInstance
from slipstream.scheduler.dag_specs import DagSpec, DagSpecCache
from slipstream.scheduler.dependencies import Decision, decide
from slipstream.scheduler.transitions import set_run_state, set_ti_state, set_tis_state
from slipstream.services.run_task_instances import new_task_instance_columns
from slipstream.states import (
    FAILED_LEAF_STATES,
    SCHEDULABLE_TI_STATES,
    UNFINISHED_TI_STATES,
    DagRunState,
)
from slipstream.states import TaskInstanceState as TI

logger = logging.getLogger(__name__)

# scheduler.max_dagruns_per_loop_to_schedule
MAX_RUNS_PER_LOOP = 20


@dataclass(frozen=True)
class TiRow:
    id: int
    task_id: str
    state: str | None
    try_number: int
    next_retry_at: datetime | None
    start_date: datetime | None


@dataclass(frozen=True)
class TiChange:
    ti_id: int
    task_id: str
    old: str | None
    new: str | None
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Examination:
    changes: list[TiChange]
    run_state: DagRunState | None = None
    reason: str | None = None


def _finished_now(now: datetime, start: datetime | None = None) -> dict[str, Any]:
    """start = end = now, duration 0: how Airflow stamps instances it settles without running them."""
    start = start or now
    return {"start_date": start, "end_date": now, "duration": max(0.0, (now - start).total_seconds())}


def examine_run(
    spec: DagSpec,
    tis: list[TiRow],
    *,
    run_start: datetime | None,
    now: datetime,
    may_schedule: bool = True,
    previous_states: Mapping[str, str | None] | None = None,
) -> Examination:
    """Decide this pass: the dagrun_timeout, trigger-rule flags, instances to schedule, the run's end.

    Flags are settled in topological order, so a skip or an upstream failure reaches the end of a
    chain in one pass (Airflow needs one pass per level; the states written are the same).
    `previous_states` are the task states of the previous run, for depends_on_past.
    """
    if spec.dagrun_timeout is not None and run_start is not None:
        if run_start < now - timedelta(seconds=spec.dagrun_timeout):
            changes = [
                TiChange(ti.id, ti.task_id, ti.state, TI.SKIPPED, _finished_now(now, ti.start_date))
                for ti in tis
                if ti.state in UNFINISHED_TI_STATES
            ]
            return Examination(changes, DagRunState.FAILED, "timed_out")

    changes: list[TiChange] = []
    states: dict[str, str | None] = {}
    by_task: dict[str, TiRow] = {}
    for ti in tis:
        states[ti.task_id] = ti.state
        by_task[ti.task_id] = ti
        if ti.task_id not in spec.tasks and ti.state in (None, TI.SCHEDULED, TI.UP_FOR_RETRY):
            # The task left the DAG file since the run was created.
            changes.append(TiChange(ti.id, ti.task_id, ti.state, TI.REMOVED))
            states[ti.task_id] = TI.REMOVED

    for task_id in spec.topological_order:
        ti = by_task.get(task_id)
        if ti is None or ti.state not in SCHEDULABLE_TI_STATES:
            continue
        task = spec.tasks[task_id]
        decision = decide(task.trigger_rule, task.upstream, states)
        if decision is Decision.SKIP or decision is Decision.UPSTREAM_FAILED:
            new = TI.SKIPPED if decision is Decision.SKIP else TI.UPSTREAM_FAILED
            changes.append(TiChange(ti.id, task_id, ti.state, new, _finished_now(now)))
            states[task_id] = new
            continue
        if decision is not Decision.RUN or not may_schedule:
            continue
        if ti.state == TI.UP_FOR_RETRY and ti.next_retry_at is not None and ti.next_retry_at > now:
            continue
        if task.depends_on_past and previous_states is not None:
            if previous_states.get(task_id, TI.SUCCESS) not in (TI.SUCCESS, TI.SKIPPED):
                continue
        if ti.state is None and task.is_empty:
            values = {**_finished_now(now), "try_number": ti.try_number + 1}
            changes.append(TiChange(ti.id, task_id, None, TI.SUCCESS, values))
            states[task_id] = TI.SUCCESS
            continue
        # A new try starts when an instance is scheduled; a reschedule keeps its try.
        try_number = ti.try_number if ti.state == TI.UP_FOR_RESCHEDULE else ti.try_number + 1
        changes.append(TiChange(ti.id, task_id, ti.state, TI.SCHEDULED, {"try_number": try_number}))
        states[task_id] = TI.SCHEDULED

    run_state, reason = _run_outcome(spec, states, changed=bool(changes))
    return Examination(changes, run_state, reason)


def _run_outcome(
    spec: DagSpec, states: dict[str, str | None], *, changed: bool
) -> tuple[DagRunState | None, str | None]:
    unfinished = [task_id for task_id, state in states.items() if state in UNFINISHED_TI_STATES]
    if not unfinished:
        leaf_states = [states[t] for t in spec.leaves if t in states and states[t] != TI.REMOVED]
        if any(state in FAILED_LEAF_STATES for state in leaf_states):
            return DagRunState.FAILED, "task_failure"
        return DagRunState.SUCCESS, "success"
    if changed:
        return None, None
    # Deadlock: nothing moves and nothing can. A task in flight or waiting for a retry can move.
    for task_id in unfinished:
        task = spec.tasks.get(task_id)
        if states[task_id] not in (None, TI.UP_FOR_RESCHEDULE) or task is None or task.depends_on_past:
            return None, None
        if decide(task.trigger_rule, task.upstream, states) is not Decision.WAIT:
            return None, None
    return DagRunState.FAILED, "all_tasks_deadlocked"


# -- the database side ---------------------------------------------------------------------------------


def apply_changes(session: Session, changes: list[TiChange]) -> int:
    """Write the changes, one UPDATE per group of identical transitions (a fan-out schedules hundreds)."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for change in changes:
        key = (change.old, change.new, tuple(sorted(change.values.items())))
        groups.setdefault(key, []).append(change.ti_id)
    moved = 0
    for (old, new, values), ids in groups.items():
        moved += set_tis_state(session, ids, old=old, new=new, **dict(values))
    return moved


@dataclass
class ExamineReport:
    changed_tis: int = 0
    finished_runs: list[tuple[str, str, str]] = field(default_factory=list)  # (dag_id, run_id, state)

    @property
    def did_work(self) -> bool:
        return bool(self.changed_tis or self.finished_runs)


_TI_KEY_COLUMNS = (TaskInstance.id, TaskInstance.task_id, TaskInstance.state, TaskInstance.try_number)
_IN_FLIGHT = frozenset({TI.SCHEDULED, TI.QUEUED, TI.RUNNING, TI.RESTARTING, TI.DEFERRED})


@dataclass(frozen=True)
class _Seen:
    """What a run looked like when last examined: unchanged, it need not be examined again."""

    fingerprint: tuple[Any, ...]
    wake_at: datetime | None  # the earliest retry time or the dagrun_timeout, whichever comes first


class RunExaminer:
    """Examines up to MAX_RUNS_PER_LOOP running runs per call, least recently examined first.

    A run whose task states moved only between in-flight states (scheduled, queued, running) since
    its last examination, with no retry or timeout due, is left alone: nothing could have changed.
    """

    def __init__(self, specs: DagSpecCache):
        self.specs = specs
        # run pk -> dag_hash whose tasks the run's instances were last checked against.
        self._verified: dict[int, str] = {}
        self._seen: dict[int, _Seen] = {}

    def examine_running_runs(self, session: Session, now: datetime, *, paused_too: bool = False) -> ExamineReport:
        """Runs of unpaused DAGs get the full pass; with `paused_too`, runs of paused DAGs get
        flags and their end decided but nothing new scheduled (Airflow's periodic refresh)."""
        report = ExamineReport()
        query = (
            select(DagRun, DagModel.is_paused)
            .join(DagModel, DagModel.dag_id == DagRun.dag_id)
            .where(DagRun.state == DagRunState.RUNNING.value)
            .order_by(func.coalesce(DagRun.last_scheduling_decision, DagRun.start_date), DagRun.id)
            .limit(MAX_RUNS_PER_LOOP)
            .with_for_update(of=DagRun, skip_locked=True)
        )
        if not paused_too:
            query = query.where(DagModel.is_paused.is_(False))
        rows = session.execute(query).all()
        if not rows:
            return report
        specs = self.specs.get_many(session, {run.dag_id for run, _ in rows})
        looked_at = []
        for run, is_paused in rows:
            spec = specs.get(run.dag_id)
            if spec is None:
                continue
            looked_at.append(run.id)
            self._examine_one(session, run, spec, now, may_schedule=not is_paused, report=report)
        if looked_at:
            session.execute(
                update(DagRun)
                .where(DagRun.id.in_(looked_at), DagRun.state == DagRunState.RUNNING.value)
                .values(last_scheduling_decision=now)
                .execution_options(synchronize_session=False)
            )
        if len(self._verified) > 10_000 or len(self._seen) > 10_000:
            live = {run.id for run, _ in rows}
            self._verified = {pk: h for pk, h in self._verified.items() if pk in live}
            self._seen = {pk: seen for pk, seen in self._seen.items() if pk in live}
        return report

    def _fingerprint(self, session: Session, run: DagRun, spec: DagSpec, may_schedule: bool) -> tuple[Any, ...]:
        histogram: dict[str | None, int] = {}
        for state, count in session.execute(
            select(TaskInstance.state, func.count())
            .where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
            .group_by(TaskInstance.state)
        ).all():
            key = "in_flight" if state in _IN_FLIGHT else state
            histogram[key] = histogram.get(key, 0) + count
        return (spec.dag_hash, may_schedule, tuple(sorted(histogram.items(), key=lambda kv: str(kv[0]))))

    def _examine_one(
        self, session: Session, run: DagRun, spec: DagSpec, now: datetime, *, may_schedule: bool, report: ExamineReport
    ) -> None:
        fingerprint = self._fingerprint(session, run, spec, may_schedule)
        seen = self._seen.get(run.id)
        unchanged = seen is not None and seen.fingerprint == fingerprint
        # depends_on_past waits on another run, whose changes this run's fingerprint does not show.
        if unchanged and (seen.wake_at is None or seen.wake_at > now) and not spec.has_depends_on_past:
            return
        if self._verified.get(run.id) != spec.dag_hash:
            self._add_missing_instances(session, run, spec)
            self._verified[run.id] = spec.dag_hash
        tis = self._load_instances(session, run, spec, now)
        previous = self._previous_states(session, run, spec)
        exam = examine_run(
            spec, tis, run_start=run.start_date, now=now, may_schedule=may_schedule, previous_states=previous
        )
        report.changed_tis += apply_changes(session, exam.changes)
        if exam.run_state is not None:
            if set_run_state(session, run.id, old=DagRunState.RUNNING, new=exam.run_state, end_date=now):
                report.finished_runs.append((run.dag_id, run.run_id, exam.run_state.value))
                self._verified.pop(run.id, None)
                self._seen.pop(run.id, None)
                log = logger.info if exam.run_state == DagRunState.SUCCESS else logger.warning
                log("DAG run %s/%s finished %s (%s)", run.dag_id, run.run_id, exam.run_state.value, exam.reason)
                if exam.reason in ("timed_out", "all_tasks_deadlocked"):
                    self._send_scheduled_back(session, run)
            return
        if exam.changes:
            self._seen.pop(run.id, None)  # look again next time: the changes move the histogram
            return
        wake_at = [ti.next_retry_at for ti in tis if ti.state == TI.UP_FOR_RETRY and ti.next_retry_at is not None]
        if spec.dagrun_timeout is not None and run.start_date is not None:
            wake_at.append(run.start_date + timedelta(seconds=spec.dagrun_timeout))
        self._seen[run.id] = _Seen(fingerprint, min(wake_at) if wake_at else None)

    def _load_instances(self, session: Session, run: DagRun, spec: DagSpec, now: datetime) -> list[TiRow]:
        """The run's instances; dates only where they matter (retries; all of them at a timeout)."""
        where = (TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
        timed_out = (
            spec.dagrun_timeout is not None
            and run.start_date is not None
            and run.start_date < now - timedelta(seconds=spec.dagrun_timeout)
        )
        if timed_out:
            columns = (TaskInstance.next_retry_at, TaskInstance.start_date)
            rows = session.execute(
                select(
                    TaskInstance.id, TaskInstance.task_id, TaskInstance.state, TaskInstance.try_number, *columns
                ).where(*where)
            ).all()
            return [TiRow(*row) for row in rows]
        rows = session.execute(
            select(TaskInstance.id, TaskInstance.task_id, TaskInstance.state, TaskInstance.try_number).where(*where)
        ).all()
        retry_at: dict[int, datetime | None] = {}
        if any(row[2] == TI.UP_FOR_RETRY for row in rows):
            retry_at = dict(
                session.execute(
                    select(TaskInstance.id, TaskInstance.next_retry_at).where(
                        *where, TaskInstance.state == TI.UP_FOR_RETRY.value
                    )
                ).all()
            )
        return [
            TiRow(ti_id, task_id, state, try_number, retry_at.get(ti_id), None)
            for ti_id, task_id, state, try_number in rows
        ]

    def _send_scheduled_back(self, session: Session, run: DagRun) -> None:
        """Nothing is queued for a finished run (Airflow's scheduled -> None in the enqueue step)."""
        ids = session.scalars(
            select(TaskInstance.id).where(
                TaskInstance.dag_id == run.dag_id,
                TaskInstance.run_id == run.run_id,
                TaskInstance.state == TI.SCHEDULED.value,
            )
        ).all()
        for ti_id in ids:
            set_ti_state(session, ti_id, old=TI.SCHEDULED, new=None)

    def _add_missing_instances(self, session: Session, run: DagRun, spec: DagSpec) -> None:
        """Tasks added to the DAG file after the run was created get their instance (Airflow's verify_integrity)."""
        existing = set(
            session.scalars(
                select(TaskInstance.task_id).where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
            )
        )
        missing = [t for t in spec.tasks if t not in existing and spec.tasks[t].admits(run.execution_date)]
        for task_id in missing:
            columns = new_task_instance_columns(spec.data["tasks"][task_id])
            session.add(TaskInstance(dag_id=run.dag_id, run_id=run.run_id, **columns))
        if missing:
            session.flush()

    def _previous_states(self, session: Session, run: DagRun, spec: DagSpec) -> dict[str, str | None] | None:
        """Task states of the run just before this one, only when some task depends_on_past."""
        if not any(t.depends_on_past for t in spec.tasks.values()):
            return None
        previous = (
            select(DagRun.run_id)
            .where(DagRun.dag_id == run.dag_id, DagRun.execution_date < run.execution_date)
            .order_by(DagRun.execution_date.desc())
            .limit(1)
            .scalar_subquery()
        )
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.state).where(
                and_(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == previous)
            )
        ).all()
        return dict(rows)

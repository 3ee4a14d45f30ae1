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

from slipstream.scheduler.dag_callbacks import DagCallback
from slipstream.scheduler.dag_specs import DagSpec, DagSpecCache, TaskSpec
from slipstream.scheduler.dependencies import Decision, decide
from slipstream.scheduler.expansion import (
    INDEX_REMOVABLE,
    NotExpandable,
    add_map_indexes,
    apply_expansions,
    map_lengths,
    mapped_length,
    revise_literal_map_indexes,
)
from slipstream.scheduler.transitions import set_run_state, set_ti_state, set_tis_state
from slipstream.sdk import xcom_serde
from slipstream.services.run_task_instances import new_task_instance_columns
from slipstream.states import (
    FAILED_LEAF_STATES,
    FINISHED_TI_STATES,
    SCHEDULABLE_TI_STATES,
    UNFINISHED_TI_STATES,
    DagRunState,
)
from slipstream.states import TaskInstanceState as TI
from slipstream.storage.models import DagModel, DagRun, TaskInstance, Trigger, XCom

logger = logging.getLogger(__name__)

# States that wait for their next_retry_at: a retry's delay, a reschedule-mode sensor's next poke.
_WAITING_UNTIL = (TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE)

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
    map_index: int = -1


@dataclass(frozen=True)
class TiChange:
    ti_id: int
    task_id: str
    old: str | None
    new: str | None
    values: dict[str, Any] = field(default_factory=dict)
    # A deferral by the scheduler (start_from_trigger): the trigger's classpath and encoded kwargs.
    trigger: tuple[str, Any] | None = None


@dataclass(frozen=True)
class Expansion:
    """A mapped task's placeholder (map_index -1) becomes index 0 in place; 1..length-1 are added
    in the same state (task-model-semantics §11)."""

    ti_id: int
    task_id: str
    length: int
    state: str | None
    try_number: int


@dataclass(frozen=True)
class NewMapIndexes:
    """An expanded mapped task whose upstream now yields more items: the missing indexes are added
    (Airflow's _revise_map_indexes_if_mapped), in `state` with `try_number`."""

    task_id: str
    map_indexes: tuple[int, ...]
    state: str | None
    try_number: int


@dataclass
class Examination:
    changes: list[TiChange]
    run_state: DagRunState | None = None
    reason: str | None = None
    expansions: list[Expansion] = field(default_factory=list)
    new_map_indexes: list[NewMapIndexes] = field(default_factory=list)


def _finished_now(now: datetime, start: datetime | None = None) -> dict[str, Any]:
    """start = end = now, duration 0: how Airflow stamps instances it settles without running them."""
    start = start or now
    return {"start_date": start, "end_date": now, "duration": max(0.0, (now - start).total_seconds())}


def _task_state(rows: list[TiRow], decided: Mapping[int, str | None]) -> Any:
    """An unmapped task's one state; a mapped task's states by map index, as a tuple (each counts)."""
    if len(rows) == 1 and rows[0].map_index < 0:
        return decided.get(rows[0].id, rows[0].state)
    return tuple(decided.get(ti.id, ti.state) for ti in sorted(rows, key=lambda ti: ti.map_index))


_REMOVABLE = frozenset({None, TI.SCHEDULED, TI.UP_FOR_RETRY})
_NO_SIBLINGS: frozenset[str] = frozenset()
# What slipstream.sdk.branching's SkipMixin pushes (not imported: the scheduler loads no operator code).
XCOM_SKIPMIXIN_KEY = "skipmixin_key"
XCOM_SKIPMIXIN_SKIPPED = "skipped"
XCOM_SKIPMIXIN_FOLLOWED = "followed"
_WAITING = frozenset({None, TI.UP_FOR_RESCHEDULE})


def _any_unfinished(states: tuple[str | None, ...]) -> bool:
    return any(state in UNFINISHED_TI_STATES for state in states)


def _each_state(value: Any) -> tuple[str | None, ...]:
    return value if isinstance(value, tuple) else (value,)


def examine_run(
    spec: DagSpec,
    tis: list[TiRow],
    *,
    run_start: datetime | None,
    now: datetime,
    may_schedule: bool = True,
    previous_states: Mapping[str, str | None] | None = None,
    map_lengths: Mapping[str, int | None] | None = None,
    skipmixin_results: Mapping[tuple[str, int], Any] | None = None,
) -> Examination:
    """Decide this pass: the dagrun_timeout, trigger-rule flags, instances to schedule, the run's end.

    Flags are settled in topological order, so a skip or an upstream failure reaches the end of a
    chain in one pass (Airflow needs one pass per level; the states written are the same).
    `previous_states` are the task states of the previous run, for depends_on_past; `map_lengths`
    the known lengths of the producers mapped tasks expand over; `skipmixin_results` the
    skipmixin_key XComs of finished branchers, by (task_id, map_index), for NotPreviouslySkippedDep.
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
    expansions: list[Expansion] = []
    new_map_indexes: list[NewMapIndexes] = []
    # A task's state, or for a mapped task the states of its instances by map index (a tuple).
    states: dict[str, Any] = {}
    single: dict[str, TiRow] = {}  # the one instance of an unmapped task
    by_task: dict[str, list[TiRow]] = {}  # the instances of a mapped task
    decided: dict[int, str | None] = {}  # instance states changed in this pass
    tasks = spec.tasks
    for ti in tis:
        state = ti.state
        if state in _REMOVABLE and ti.task_id not in tasks:
            # The task left the DAG file since the run was created.
            changes.append(TiChange(ti.id, ti.task_id, state, TI.REMOVED))
            state = decided[ti.id] = TI.REMOVED
        if ti.map_index < 0 and ti.task_id not in states:
            states[ti.task_id] = state
            single[ti.task_id] = ti
        else:
            by_task.setdefault(ti.task_id, []).append(ti)
    for task_id, rows in by_task.items():
        if task_id in single:
            rows.append(single.pop(task_id))
        states[task_id] = _task_state(rows, decided)

    for task_id in spec.topological_order:
        ti = single.get(task_id)
        if ti is not None:
            if ti.state not in SCHEDULABLE_TI_STATES:
                continue
            rows = [ti]
        else:
            rows = by_task.get(task_id)
            if rows is None:
                continue
        task = spec.tasks[task_id]
        siblings = _mapped_siblings(spec, task) if task.mapping is not None else _NO_SIBLINGS
        expanded_to: tuple[str | None, ...] | None = None
        changed = False
        revised = False
        added: NewMapIndexes | None = None
        for ti in rows:
            if ti.state not in SCHEDULABLE_TI_STATES or decided.get(ti.id) == TI.REMOVED:
                continue
            length = -1
            placeholder = task.mapping is not None and ti.map_index < 0
            upstream, view = task.upstream, states
            if siblings and placeholder:  # a group sibling is judged per index, once expanded
                upstream = tuple(u for u in task.upstream if u not in siblings)
            elif siblings:
                view = {**states, **{u: _index_state(by_task, decided, u, ti.map_index) for u in siblings}}
            decision = decide(
                task.trigger_rule,
                upstream,
                view,
                setups=task.direct_setups,
                indirect_setups=task.indirect_setups,
                map_index=ti.map_index,
            )
            if skipmixin_results and task.skipmixin_parents and decision is not Decision.SKIP:
                if skipped_by_parent(task_id, task.skipmixin_parents, ti.map_index, skipmixin_results):
                    decision = Decision.SKIP
            if decision is Decision.RUN and placeholder:
                decision, length = _expansion_length(spec, task, states, map_lengths or {})
                if decision is Decision.WAIT:
                    continue
            if decision is Decision.REMOVED:
                changes.append(TiChange(ti.id, task_id, ti.state, TI.REMOVED))
                decided[ti.id], changed = TI.REMOVED, True
                continue
            if decision is Decision.SKIP or decision is Decision.UPSTREAM_FAILED:
                new = TI.SKIPPED if decision is Decision.SKIP else TI.UPSTREAM_FAILED
                if placeholder and decision is Decision.SKIP and length == 0:
                    logger.info("Marking %s as SKIPPED since the map has 0 values to expand", task_id)
                changes.append(TiChange(ti.id, task_id, ti.state, new, _finished_now(now)))
                decided[ti.id], changed = new, True
                continue
            if decision is Decision.RUN and task.mapping is not None and not placeholder and not revised:
                # Once per task and pass, the first expanded instance free to run re-counts the task
                # (Airflow's _revise_map_indexes_if_mapped): indexes past the count are removed, missing
                # ones are added, so a re-run over fewer (or more) items runs exactly those.
                revised = True
                # New indexes are scheduled at once, unless each must be judged on its own first (a
                # group member waits for its siblings' index, an empty or start_from_trigger task is
                # finished or deferred instead).
                schedule_new = may_schedule and not siblings and not task.is_empty and task.start_trigger is None
                removed, added = _revise_map_indexes(spec, task, rows, states, map_lengths or {}, schedule_new)
                for old_ti in removed:
                    if old_ti.id in decided:  # already flagged in this pass
                        continue
                    changes.append(TiChange(old_ti.id, task_id, old_ti.state, TI.REMOVED))
                    decided[old_ti.id], changed = TI.REMOVED, True
                if added is not None:
                    new_map_indexes.append(added)
                    changed = True
                if decided.get(ti.id) == TI.REMOVED:
                    continue
            if decision is not Decision.RUN or not may_schedule:
                continue
            if ti.state in _WAITING_UNTIL and ti.next_retry_at is not None and ti.next_retry_at > now:
                continue
            if task.depends_on_past and previous_states is not None:
                if previous_states.get(task_id, TI.SUCCESS) not in (TI.SUCCESS, TI.SKIPPED):
                    continue
            if placeholder:
                # Group members wait for their siblings index by index: they expand unscheduled, and
                # so do instances that may start from the triggerer (decided when they are scheduled).
                new_state = None if siblings or task.start_trigger is not None else TI.SCHEDULED
                try_number = ti.try_number + (1 if new_state else 0)
                expansions.append(Expansion(ti.id, task_id, length, new_state, try_number))
                expanded_to = (new_state,) * length
                continue
            if ti.state is None and task.is_empty:
                values = {**_finished_now(now), "try_number": ti.try_number + 1}
                changes.append(TiChange(ti.id, task_id, None, TI.SUCCESS, values))
                decided[ti.id], changed = TI.SUCCESS, True
                continue
            # A new try starts when an instance is scheduled; a reschedule keeps its try.
            try_number = ti.try_number if ti.state == TI.UP_FOR_RESCHEDULE else ti.try_number + 1
            start = start_from_trigger(task, ti.map_index, now) if task.start_trigger is not None else None
            if start is not None:
                values, trigger = start
                changes.append(
                    TiChange(ti.id, task_id, ti.state, TI.DEFERRED, {**values, "try_number": try_number}, trigger)
                )
                decided[ti.id], changed = TI.DEFERRED, True
                continue
            changes.append(TiChange(ti.id, task_id, ti.state, TI.SCHEDULED, {"try_number": try_number}))
            decided[ti.id], changed = TI.SCHEDULED, True
        if expanded_to is not None:
            states[task_id] = expanded_to
        elif changed:
            states[task_id] = decided[ti.id] if task_id in single else _task_state(rows, decided)
        if added is not None:
            states[task_id] = _each_state(states[task_id]) + (added.state,) * len(added.map_indexes)

    run_state, reason = _run_outcome(spec, states, changed=bool(changes or expansions or new_map_indexes))
    return Examination(changes, run_state, reason, expansions, new_map_indexes)


def _revise_map_indexes(
    spec: DagSpec,
    task: TaskSpec,
    rows: list[TiRow],
    states: Mapping[str, Any],
    map_lengths: Mapping[str, int | None],
    schedule_new: bool,
) -> tuple[list[TiRow], NewMapIndexes | None]:
    """The instances past the task's current count, and the indexes it now lacks. An unknown count
    (a producer not finished, its length not recorded) revises nothing, as in Airflow."""
    decision, length = _expansion_length(spec, task, states, map_lengths)
    if decision is Decision.WAIT or decision is Decision.UPSTREAM_FAILED:
        return [], None
    length = max(length, 0)
    removed = [ti for ti in rows if ti.map_index >= length and ti.state in INDEX_REMOVABLE]
    existing = {ti.map_index for ti in rows}
    missing = tuple(index for index in range(length) if index not in existing)
    if not missing:
        return removed, None
    # Airflow adds them unscheduled and schedules them in the same pass (a new try each).
    state = TI.SCHEDULED if schedule_new else None
    return removed, NewMapIndexes(task.task_id, missing, state, 1 if schedule_new else 0)


def start_from_trigger(task: TaskSpec, map_index: int, now: datetime) -> tuple[dict[str, Any], tuple[str, Any]] | None:
    """Airflow 2.10's schedule_tis for an operator with start_trigger_args: when start_from_trigger
    holds (for a mapped instance: its expand() value, else partial()'s, else the class's), the
    instance is deferred to that trigger at once, its try started now, with no worker involved.
    The column values and the trigger (classpath, encoded kwargs), or None to schedule it as usual."""
    spec = dict(task.start_trigger or {})
    overrides = spec.pop("by_map_index", None)
    if overrides is not None and 0 <= map_index < len(overrides):
        spec.update(overrides[map_index])
    if not spec.get("start_from_trigger"):
        return None
    timeout = now + timedelta(seconds=spec["timeout"]) if spec.get("timeout") is not None else None
    if task.execution_timeout is not None:
        # The execution timeout counts from the try's start, which is now.
        cap = now + timedelta(seconds=task.execution_timeout)
        timeout = min(timeout, cap) if timeout is not None else cap
    values = {
        "start_date": now,
        "next_method": spec["next_method"],
        "next_kwargs": spec.get("next_kwargs") or {},
        "trigger_timeout": timeout,
    }
    return values, (spec["trigger_cls"], spec.get("trigger_kwargs") or {})


def skipped_by_parent(
    task_id: str, parents: tuple[str, ...], map_index: int, results: Mapping[tuple[str, int], Any]
) -> bool:
    """Airflow's NotPreviouslySkippedDep: a finished brancher that did not follow this task, or a
    short-circuit that listed it as skipped, skips it again (after a clear, say) instead of running it."""
    for parent in parents:
        result = results.get((parent, map_index))
        if not isinstance(result, dict):
            continue
        followed = result.get(XCOM_SKIPMIXIN_FOLLOWED)
        if followed is not None:
            if task_id not in followed:
                return True
        elif task_id in (result.get(XCOM_SKIPMIXIN_SKIPPED) or ()):
            return True
    return False


def _mapped_siblings(spec: DagSpec, task: TaskSpec) -> frozenset[str]:
    """Direct upstream tasks in the same mapped task group: index i waits only for their index i."""
    group = task.mapping.get("group") if task.mapping else None
    if group is None:
        return frozenset()
    return frozenset(
        u
        for u in task.upstream
        if (up := spec.tasks.get(u)) is not None and up.mapping and up.mapping.get("group") == group
    )


def _index_state(by_task: dict[str, list[TiRow]], decided: dict[int, str | None], task_id: str, map_index: int):
    for ti in by_task.get(task_id, ()):
        if ti.map_index == map_index:
            return decided.get(ti.id, ti.state)
    return None  # not expanded yet: waits


def _expansion_length(
    spec: DagSpec, task: TaskSpec, states: Mapping[str, Any], map_lengths: Mapping[str, int | None]
) -> tuple[Decision, int]:
    """How many instances a mapped task gets: the product of its factors' lengths. A skipped
    producer skips it; a failed one, or one whose length is unknown, makes it upstream_failed."""
    try:
        length = mapped_length(task.mapping["factors"], lambda task_id: _each_state(states.get(task_id)), map_lengths)
    except NotExpandable as refusal:
        return refusal.decision, -1
    return (Decision.SKIP, 0) if length == 0 else (Decision.RUN, length)


def _run_outcome(
    spec: DagSpec, states: dict[str, str | None], *, changed: bool
) -> tuple[DagRunState | None, str | None]:
    unfinished = [
        task_id
        for task_id, value in states.items()
        if value in UNFINISHED_TI_STATES or (type(value) is tuple and _any_unfinished(value))
    ]
    if not unfinished:
        leaf_states = [s for t in spec.leaves if t in states for s in _each_state(states[t]) if s != TI.REMOVED]
        if any(state in FAILED_LEAF_STATES for state in leaf_states):
            return DagRunState.FAILED, "task_failure"
        return DagRunState.SUCCESS, "success"
    if changed:
        return None, None
    # Deadlock: nothing moves and nothing can. A task in flight or waiting for a retry can move.
    for task_id in unfinished:
        task = spec.tasks.get(task_id)
        value = states[task_id]
        waiting = all(s in _WAITING for s in value) if type(value) is tuple else value in _WAITING
        if not waiting or task is None or task.depends_on_past:
            return None, None
        if (
            decide(
                task.trigger_rule,
                task.upstream,
                states,
                setups=task.direct_setups,
                indirect_setups=task.indirect_setups,
            )
            is not Decision.WAIT
        ):
            return None, None
    return DagRunState.FAILED, "all_tasks_deadlocked"


# -- the database side ---------------------------------------------------------------------------------


def apply_changes(session: Session, changes: list[TiChange], *, cipher: Any = None) -> int:
    """Write the changes, one UPDATE per group of identical transitions (a fan-out schedules hundreds)."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    moved = 0
    for change in changes:
        if change.trigger is not None:
            moved += _defer_from_scheduler(session, change, cipher)
            continue
        key = (change.old, change.new, tuple(sorted(change.values.items())))
        groups.setdefault(key, []).append(change.ti_id)
    for (old, new, values), ids in groups.items():
        moved += set_tis_state(session, ids, old=old, new=new, **dict(values))
    return moved


def _defer_from_scheduler(session: Session, change: TiChange, cipher: Any) -> int:
    """The trigger row first, then the instance deferred on it (Airflow's defer_task without an exception)."""
    import orjson

    if cipher is None:
        from slipstream.sdk import metastore

        cipher = metastore.cipher()
    classpath, encoded_kwargs = change.trigger
    trigger = Trigger(
        classpath=classpath,
        kwargs=cipher.encrypt(orjson.dumps(encoded_kwargs).decode()) or "",
        created_date=change.values["start_date"],
    )
    session.add(trigger)
    session.flush()
    moved = set_ti_state(session, change.ti_id, old=change.old, new=change.new, trigger_id=trigger.id, **change.values)
    if moved:
        logger.info("Deferred %s to %s from the scheduler (start_from_trigger)", change.task_id, classpath)
    return int(moved)


@dataclass
class ExamineReport:
    changed_tis: int = 0
    finished_runs: list[tuple[str, str, str]] = field(default_factory=list)  # (dag_id, run_id, state)
    dag_callbacks: list[DagCallback] = field(default_factory=list)

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

    def __init__(self, specs: DagSpecCache, *, cipher: Any = None):
        self.specs = specs
        self.cipher = cipher  # encrypts the kwargs of triggers the scheduler defers to (start_from_trigger)
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
            # Runs never examined first (Airflow: nulls first), so a run started in this transaction
            # gets its first tasks scheduled (and, on SQLite, queued) at once.
            .order_by(
                DagRun.last_scheduling_decision.is_not(None),
                func.coalesce(DagRun.last_scheduling_decision, DagRun.start_date),
                DagRun.id,
            )
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

    def forget_all(self) -> None:
        """After a rolled-back transaction: examine every run afresh."""
        self._verified.clear()
        self._seen.clear()

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
            if spec.has_mapped_tasks:
                revise_literal_map_indexes(session, run, spec)
            self._verified[run.id] = spec.dag_hash
        tis = self._load_instances(session, run, spec, now)
        previous = self._previous_states(session, run, spec)
        exam = examine_run(
            spec,
            tis,
            run_start=run.start_date,
            now=now,
            may_schedule=may_schedule,
            previous_states=previous,
            map_lengths=map_lengths(session, run, spec, tis) if spec.has_mapped_tasks else None,
            skipmixin_results=self._skipmixin_results(session, run, spec, tis) if spec.has_skipmixin_tasks else None,
        )
        report.changed_tis += apply_changes(session, exam.changes, cipher=self.cipher)
        report.changed_tis += apply_expansions(session, run, spec, exam.expansions)
        report.changed_tis += add_map_indexes(session, run, spec, exam.new_map_indexes)
        if exam.run_state is not None:
            if set_run_state(session, run.id, old=DagRunState.RUNNING, new=exam.run_state, end_date=now):
                report.finished_runs.append((run.dag_id, run.run_id, exam.run_state.value))
                self._verified.pop(run.id, None)
                self._seen.pop(run.id, None)
                log = logger.info if exam.run_state == DagRunState.SUCCESS else logger.warning
                log("DAG run %s/%s finished %s (%s)", run.dag_id, run.run_id, exam.run_state.value, exam.reason)
                if exam.reason in ("timed_out", "all_tasks_deadlocked"):
                    self._send_scheduled_back(session, run)
                success = exam.run_state == DagRunState.SUCCESS
                if spec.data.get("has_on_success_callback" if success else "has_on_failure_callback"):
                    report.dag_callbacks.append(DagCallback(run.dag_id, run.run_id, spec.fileloc, success, exam.reason))
            return
        if exam.changes or exam.expansions or exam.new_map_indexes:
            self._seen.pop(run.id, None)  # look again next time: the changes move the histogram
            return
        wake_at = [ti.next_retry_at for ti in tis if ti.state in _WAITING_UNTIL and ti.next_retry_at is not None]
        if spec.dagrun_timeout is not None and run.start_date is not None:
            wake_at.append(run.start_date + timedelta(seconds=spec.dagrun_timeout))
        self._seen[run.id] = _Seen(fingerprint, min(wake_at) if wake_at else None)

    def _skipmixin_results(
        self, session: Session, run: DagRun, spec: DagSpec, tis: list[TiRow]
    ) -> dict[tuple[str, int], Any] | None:
        """The skipmixin_key XComs of finished branchers with a schedulable direct downstream instance
        (none in the usual pass: a brancher skips what it does not follow as it finishes)."""
        finished = {ti.task_id for ti in tis if ti.state in FINISHED_TI_STATES}
        parents = {
            parent
            for ti in tis
            if ti.state in SCHEDULABLE_TI_STATES and ti.task_id in spec.tasks
            for parent in spec.tasks[ti.task_id].skipmixin_parents
            if parent in finished
        }
        if not parents:
            return None
        rows = session.execute(
            select(XCom.task_id, XCom.map_index, XCom.value).where(
                XCom.dag_id == run.dag_id,
                XCom.run_id == run.run_id,
                XCom.task_id.in_(sorted(parents)),
                XCom.key == XCOM_SKIPMIXIN_KEY,
            )
        ).all()
        return {(task_id, map_index): xcom_serde.deserialize(value) for task_id, map_index, value in rows}

    def _load_instances(self, session: Session, run: DagRun, spec: DagSpec, now: datetime) -> list[TiRow]:
        """The run's instances; dates only where they matter (retries; all of them at a timeout)."""
        where = (TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
        timed_out = (
            spec.dagrun_timeout is not None
            and run.start_date is not None
            and run.start_date < now - timedelta(seconds=spec.dagrun_timeout)
        )
        if timed_out:
            columns = (TaskInstance.next_retry_at, TaskInstance.start_date, TaskInstance.map_index)
            rows = session.execute(
                select(
                    TaskInstance.id, TaskInstance.task_id, TaskInstance.state, TaskInstance.try_number, *columns
                ).where(*where)
            ).all()
            return [TiRow(*row) for row in rows]
        rows = session.execute(
            select(
                TaskInstance.id,
                TaskInstance.task_id,
                TaskInstance.state,
                TaskInstance.try_number,
                TaskInstance.map_index,
            ).where(*where)
        ).all()
        retry_at: dict[int, datetime | None] = {}
        if any(row[2] in _WAITING_UNTIL for row in rows):
            retry_at = dict(
                session.execute(
                    select(TaskInstance.id, TaskInstance.next_retry_at).where(
                        *where, TaskInstance.state.in_([s.value for s in _WAITING_UNTIL])
                    )
                ).all()
            )
        return [
            TiRow(ti_id, task_id, state, try_number, retry_at.get(ti_id), None, map_index)
            for ti_id, task_id, state, try_number, map_index in rows
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

"""DAG runs coming to life: scheduled runs created when their interval is over, queued runs started.

Both steps run in the caller's session (one transaction per scheduler step).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipstream.scheduler.dag_specs import DagSpec, DagSpecCache
from slipstream.scheduler.transitions import set_run_state
from slipstream.services.dag_runs import create_dag_run
from slipstream.states import DagRunState, TaskInstanceState
from slipstream.storage.models import DagModel, DagRun, ImportErrorModel, SerializedDagModel, TaskInstance
from slipstream.timetables import DagRunInfo, next_dagrun_info

logger = logging.getLogger(__name__)

# scheduler.max_dagruns_to_create_per_loop / how many queued runs one loop may start.
MAX_RUNS_TO_CREATE_PER_LOOP = 10
MAX_QUEUED_RUNS_TO_START = 20
_SCHEDULED_TYPES = ("cron", "cron_trigger", "delta", "once", "custom", "dataset_or_time")
_AUTOMATED_RUN_TYPES = ("scheduled", "backfill")
# Task instances that hold (queued, running) or wait for (scheduled) a max_active_tasks slot.
_BUSY_TI_STATES = (TaskInstanceState.SCHEDULED, TaskInstanceState.QUEUED, TaskInstanceState.RUNNING)


def scheduled_run_id(logical_date: datetime) -> str:
    return f"scheduled__{logical_date.isoformat()}"


def lock_dags(session: Session, dag_ids) -> set[str]:
    """Lock the DagModel rows of `dag_ids` for this transaction, skipping rows another holds; returns
    the dag_ids this transaction now holds.

    Several schedulers (PostgreSQL): the per-DAG decisions (create the next scheduled run, start queued
    runs within max_active_runs, write next_dagrun*) are made by one scheduler at a time for a DAG,
    as Airflow does with DagModel.dags_needing_dagruns (FOR UPDATE SKIP LOCKED). A DAG another
    scheduler holds is simply left for a later loop; nobody waits, so these locks cannot deadlock.
    On SQLite (FOR UPDATE is ignored) every existing DAG comes back: its single writer serializes.
    """
    ids = sorted(set(dag_ids))
    if not ids:
        return set()
    return set(
        session.scalars(
            select(DagModel.dag_id)
            .where(DagModel.dag_id.in_(ids))
            .order_by(DagModel.dag_id)
            .with_for_update(skip_locked=True)
        )
    )


@dataclass
class _Next:
    dag_hash: str
    info: DagRunInfo | None


def _next_for(spec: DagSpec, **kwargs: Any) -> DagRunInfo | None:
    """The DAG's next run; a schedule that cannot say (a timetable raising) stops only that DAG."""
    try:
        return next_dagrun_info(spec.schedule, **kwargs)
    except Exception:
        logger.exception("Cannot compute the next run of DAG %s; it is not scheduled", spec.dag_id)
        return None


class RunCreator:
    """Creates the next scheduled run of each due DAG; remembers each DAG's next run between loops.

    `due_runs` only reads (so an idle loop takes no write lock); `create_runs` writes, and also
    stores each DAG's next run in its DagModel row (next_dagrun*), for the API to show.
    """

    def __init__(self, specs: DagSpecCache):
        self.specs = specs
        self._next: dict[str, _Next] = {}
        # DagModel.next_dagrun* values computed but not written yet.
        self._unwritten: dict[str, DagRunInfo | None] = {}

    @property
    def has_unwritten(self) -> bool:
        return bool(self._unwritten)

    def due_runs(self, session: Session, now: datetime) -> list[tuple[DagSpec, DagRunInfo]]:
        """Unpaused, active DAGs without import errors whose next run may be created now."""
        dag_ids = session.scalars(
            select(DagModel.dag_id)
            .join(SerializedDagModel, SerializedDagModel.dag_id == DagModel.dag_id)
            .where(DagModel.is_paused.is_(False), DagModel.is_active.is_(True))
            .where(~exists().where(ImportErrorModel.filename == DagModel.fileloc))
        ).all()
        specs = [
            s for s in self.specs.get_many(session, dag_ids).values() if s.schedule.get("type") in _SCHEDULED_TYPES
        ]
        due: list[tuple[DagSpec, DagRunInfo]] = []
        for spec in specs:
            info = self._next_info(session, spec, now)
            if info is not None and info.run_after <= now:
                due.append((spec, info))
        return sorted(due, key=lambda pair: pair[1].run_after)

    def create_runs(
        self, session: Session, due: list[tuple[DagSpec, DagRunInfo]], now: datetime
    ) -> list[tuple[str, str]]:
        """One new run per due DAG, at most MAX_RUNS_TO_CREATE_PER_LOOP; returns (dag_id, run_id) created."""
        created: list[tuple[str, str]] = []
        # Only DAGs whose row this transaction holds (another scheduler may be deciding the rest);
        # the run counts are read after the lock, so they include what the previous holder committed.
        mine = lock_dags(session, [spec.dag_id for spec, _ in due] + list(self._unwritten))
        due = [(spec, info) for spec, info in due if spec.dag_id in mine]
        active = self._active_run_counts(session, [spec.dag_id for spec, _ in due]) if due else {}
        for spec, info in due:
            if len(created) >= MAX_RUNS_TO_CREATE_PER_LOOP:
                break
            if active.get(spec.dag_id, 0) >= spec.max_active_runs:
                continue
            if not spec.catchup:
                # The stored next run may be stale after a pause: without catchup only the latest counts.
                info = self._compute(session, spec, now)
                if info is None or info.run_after > now:
                    self._remember(spec, info)
                    continue
            run_id = scheduled_run_id(info.logical_date)
            try:
                with session.begin_nested():
                    create_dag_run(
                        session,
                        dag=spec.data,
                        run_id=run_id,
                        execution_date=info.logical_date,
                        conf={},
                        run_type="scheduled",
                        data_interval=(info.data_interval_start, info.data_interval_end),
                        external_trigger=False,
                    )
            except IntegrityError:
                # A manual run (or another scheduler) holds this logical date: skip it, move on.
                logger.info("Not creating %s/%s: a run already exists at that date", spec.dag_id, run_id)
            else:
                created.append((spec.dag_id, run_id))
                active[spec.dag_id] = active.get(spec.dag_id, 0) + 1
                logger.info("Created DAG run %s/%s", spec.dag_id, run_id)
            following = _next_for(
                spec,
                earliest=spec.earliest,
                latest=spec.latest,
                catchup=spec.catchup,
                last_automated=(info.data_interval_start, info.data_interval_end),
                now=now,
            )
            self._remember(spec, following)
        self._write_next_dagruns(session, mine)
        return created

    def _next_info(self, session: Session, spec: DagSpec, now: datetime) -> DagRunInfo | None:
        cached = self._next.get(spec.dag_id)
        if cached is not None and cached.dag_hash == spec.dag_hash:
            return cached.info
        info = self._compute(session, spec, now)
        self._remember(spec, info)
        return info

    def _compute(self, session: Session, spec: DagSpec, now: datetime) -> DagRunInfo | None:
        last = session.execute(
            select(DagRun.data_interval_start, DagRun.data_interval_end, DagRun.execution_date)
            .where(DagRun.dag_id == spec.dag_id, DagRun.run_type.in_(_AUTOMATED_RUN_TYPES))
            .order_by(DagRun.execution_date.desc())
            .limit(1)
        ).first()
        last_interval = None
        if last is not None:
            last_interval = (last[0] or last[2], last[1] or last[2])
        return _next_for(
            spec,
            earliest=spec.earliest,
            latest=spec.latest,
            catchup=spec.catchup,
            last_automated=last_interval,
            now=now,
        )

    def _remember(self, spec: DagSpec, info: DagRunInfo | None) -> None:
        previous = self._next.get(spec.dag_id)
        self._next[spec.dag_id] = _Next(spec.dag_hash, info)
        if previous is None or previous.info != info:
            self._unwritten[spec.dag_id] = info

    def _write_next_dagruns(self, session: Session, locked: set[str]) -> None:
        """Write next_dagrun* of the DAGs whose row we hold; the others wait for a later loop."""
        others = set(self._unwritten) - locked
        if others:  # forget DAGs that are gone (they would never be locked), keep those held elsewhere
            present = set(session.scalars(select(DagModel.dag_id).where(DagModel.dag_id.in_(sorted(others)))))
            for dag_id in others - present:
                del self._unwritten[dag_id]
        for dag_id, info in list(self._unwritten.items()):
            if dag_id not in locked:
                continue
            values: dict[str, Any] = {
                "next_dagrun": info.logical_date if info else None,
                "next_dagrun_data_interval_start": info.data_interval_start if info else None,
                "next_dagrun_data_interval_end": info.data_interval_end if info else None,
                "next_dagrun_create_after": info.run_after if info else None,
            }
            session.execute(update(DagModel).where(DagModel.dag_id == dag_id).values(**values))
            del self._unwritten[dag_id]

    @staticmethod
    def _active_run_counts(session: Session, dag_ids: list[str]) -> dict[str, int]:
        return dict(
            session.execute(
                select(DagRun.dag_id, func.count())
                .where(
                    DagRun.dag_id.in_(dag_ids),
                    DagRun.state.in_([DagRunState.QUEUED.value, DagRunState.RUNNING.value]),
                )
                .group_by(DagRun.dag_id)
            ).all()
        )

    def forget(self, dag_id: str) -> None:
        self._next.pop(dag_id, None)

    def forget_all(self) -> None:
        """After a rolled-back transaction: what was remembered (or written) in it may not be stored."""
        self._next.clear()
        self._unwritten.clear()


@dataclass(frozen=True)
class RunActivity:
    """Is there a run to examine, one to start, a task instance to queue? (Runs of paused DAGs wait,
    so they do not count.)"""

    running: bool
    startable: bool
    scheduled: bool


def run_activity(session: Session, now: datetime) -> RunActivity:
    unpaused = DagModel.is_paused.is_(False)
    running = (
        select(DagRun.id)
        .join(DagModel, DagModel.dag_id == DagRun.dag_id)
        .where(DagRun.state == DagRunState.RUNNING.value, unpaused)
        .limit(1)
    )
    startable = (
        select(DagRun.id)
        .join(DagModel, DagModel.dag_id == DagRun.dag_id)
        .where(DagRun.state == DagRunState.QUEUED.value, DagRun.execution_date <= now, unpaused)
        .limit(1)
    )
    scheduled = select(TaskInstance.id).where(TaskInstance.state == TaskInstanceState.SCHEDULED.value).limit(1)
    return RunActivity(
        session.scalar(running) is not None,
        session.scalar(startable) is not None,
        session.scalar(scheduled) is not None,
    )


def start_queued_runs(
    session: Session, specs: DagSpecCache, now: datetime, *, limit: int = MAX_QUEUED_RUNS_TO_START
) -> list[tuple[str, str]]:
    """queued -> running for unpaused DAGs, oldest logical date first, within max_active_runs; at most
    `limit` runs (the scheduler passes the executor's open slots: see SchedulerJob.run_once)."""
    limit = min(limit, MAX_QUEUED_RUNS_TO_START)
    if limit <= 0:
        return []
    runs = session.scalars(
        select(DagRun)
        .join(DagModel, DagModel.dag_id == DagRun.dag_id)
        .where(
            DagRun.state == DagRunState.QUEUED.value,
            DagRun.execution_date <= now,
            DagModel.is_paused.is_(False),
            DagModel.is_active.is_(True),
        )
        .order_by(DagRun.execution_date, DagRun.id)
        .limit(limit * 5)
        .with_for_update(of=DagRun, skip_locked=True)
    ).all()
    if not runs:
        return []
    # max_active_runs with several schedulers: count and start a DAG's runs only while holding its
    # DagModel row, so two schedulers cannot each start "the last allowed" run of one DAG.
    mine = lock_dags(session, {run.dag_id for run in runs})
    runs = [run for run in runs if run.dag_id in mine]
    if not runs:
        return []
    dag_specs = specs.get_many(session, {run.dag_id for run in runs})
    running = dict(
        session.execute(
            select(DagRun.dag_id, func.count())
            .where(DagRun.dag_id.in_(list(dag_specs)), DagRun.state == DagRunState.RUNNING.value)
            .group_by(DagRun.dag_id)
        ).all()
    )
    room = _task_room(session, dag_specs)
    started: list[tuple[str, str]] = []
    for run in runs:
        if len(started) >= limit:
            break
        spec = dag_specs.get(run.dag_id)
        if spec is None or running.get(run.dag_id, 0) >= spec.max_active_runs:
            continue
        if room.get(run.dag_id, 0) <= 0:
            continue
        if set_run_state(
            session, run.id, old=DagRunState.QUEUED, new=DagRunState.RUNNING, start_date=now, end_date=None
        ):
            running[run.dag_id] = running.get(run.dag_id, 0) + 1
            room[run.dag_id] -= 1
            started.append((run.dag_id, run.run_id))
    return started


def _task_room(session: Session, dag_specs: dict[str, DagSpec]) -> dict[str, int]:
    """For each DAG, how many more task instances could go to the executor now: max_active_tasks less
    those queued or running and those already scheduled and waiting for a slot.

    A run is started only while its DAG has room for its first task. Started regardless (as long as
    max_active_runs allows), runs pile up `running` behind max_active_tasks under a burst of
    triggers, each waiting seconds for its first task; kept `queued`, they start when their work can.
    """
    if not dag_specs:
        return {}
    busy = dict(
        session.execute(
            select(TaskInstance.dag_id, func.count())
            .where(
                TaskInstance.dag_id.in_(list(dag_specs)),
                TaskInstance.state.in_([s.value for s in _BUSY_TI_STATES]),
            )
            .group_by(TaskInstance.dag_id)
        ).all()
    )
    return {dag_id: spec.max_active_tasks - busy.get(dag_id, 0) for dag_id, spec in dag_specs.items()}

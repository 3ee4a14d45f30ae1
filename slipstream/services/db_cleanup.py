"""`slipstream db clean`: remove old runs, task instances, XComs, audit rows, jobs and logs, as Airflow's
`airflow db clean` does, in short batches so the scheduler and the API keep working meanwhile.

What goes (each table by its own recency column, strictly before the timestamp):

- dag_run (start_date): the run, with its task instances, XComs and log files on disk, which belong to
  it. Kept whatever their age: each DAG's latest run, its latest scheduled (non-manual) run (Airflow's
  rule: the scheduler computes the next run from it), runs that never started, and runs still
  queued or running.
- task_instance (start_date): task instances outside those kept runs, with their XComs and logs.
- xcom (timestamp): XComs outside those kept runs.
- audit_log (dttm; Airflow calls its table `log`).
- job (latest_heartbeat): records of schedulers and other jobs long gone.

The plan (`plan_cleanup`) names every row a clean removes; `run_cleanup` removes exactly the plan's
rows, in batches of one short transaction each, re-sized to stay well under a second each (SQLite
has one writer: a long delete would stop the scheduler and every trigger).
"""

from __future__ import annotations

import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import and_, delete, false, func, or_, select, true, tuple_

from slipstream.errors import BadRequest
from slipstream.storage.dataset_models import DagRunDatasetEvent
from slipstream.storage.db import read_scope, session_scope
from slipstream.storage.models import AuditLog, DagRun, Job, TaskInstance, TaskMap, TaskReschedule, XCom

TABLES = ("dag_run", "task_instance", "xcom", "audit_log", "job")
# Airflow's table names that mean the same thing here.
TABLE_ALIASES = {"log": "audit_log"}
UNFINISHED_RUN_STATES = ("queued", "running")
AUTOMATED_RUN_TYPES = ("scheduled", "backfill", "dataset_triggered")
# A batch should hold the write lock for about this long; the next one waits a little for others.
TARGET_BATCH_SECONDS = 0.2
PAUSE_BETWEEN_BATCHES = 0.02
FIRST_BATCH = 200
MAX_BATCH = 5000


def resolve_tables(names: Iterable[str] | None) -> tuple[str, ...]:
    """The tables to clean (all by default); a clear error naming an unknown one."""
    if not names:
        return TABLES
    chosen = []
    for raw in names:
        for name in (part.strip() for part in raw.split(",")):
            if not name:
                continue
            name = TABLE_ALIASES.get(name, name)
            if name not in TABLES:
                raise BadRequest(f"Unknown table {name!r} for db clean; choose from: {', '.join(TABLES)} (or log)")
            if name not in chosen:
                chosen.append(name)
    return tuple(chosen) or TABLES


@dataclass
class CleanupPlan:
    """Every row a clean removes, by primary key, and the log files that go with them."""

    clean_before: datetime
    tables: tuple[str, ...]
    run_ids: list[int] = field(default_factory=list)  # dag_run.id
    # (dag_id, run_id) of every removed run, and of runs whose task instances are removed
    run_keys: list[tuple[str, str]] = field(default_factory=list)
    task_instance_ids: list[int] = field(default_factory=list)
    # (dag_run_id, task_id, map_index, key)
    xcom_keys: list[tuple[int, str, int, str]] = field(default_factory=list)
    audit_log_ids: list[int] = field(default_factory=list)
    job_ids: list[int] = field(default_factory=list)
    log_paths: list[Path] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "dag_run": len(self.run_ids),
            "task_instance": len(self.task_instance_ids),
            "xcom": len(self.xcom_keys),
            "audit_log": len(self.audit_log_ids),
            "job": len(self.job_ids),
            "log files and folders": len(self.log_paths),
        }


@dataclass
class CleanupResult:
    counts: dict[str, int]
    batches: int = 0
    longest_batch_seconds: float = 0.0
    seconds: float = 0.0


def _kept_run_ids(session) -> set[int]:
    """Each DAG's latest run and latest scheduled run, by execution date, and every unfinished one."""
    kept: set[int] = set()
    for automated_only in (False, True):
        latest = select(DagRun.dag_id, func.max(DagRun.execution_date).label("latest"))
        if automated_only:
            latest = latest.where(DagRun.run_type.in_(AUTOMATED_RUN_TYPES))
        latest = latest.group_by(DagRun.dag_id).subquery()
        kept.update(
            session.scalars(
                select(DagRun.id).join(
                    latest, and_(DagRun.dag_id == latest.c.dag_id, DagRun.execution_date == latest.c.latest)
                )
            )
        )
    kept.update(
        session.scalars(
            select(DagRun.id).where(or_(DagRun.state.in_(UNFINISHED_RUN_STATES), DagRun.start_date.is_(None)))
        )
    )
    return kept


def plan_cleanup(
    database_url: str, logs_folder: Path, clean_before: datetime, tables: Sequence[str] = TABLES
) -> CleanupPlan:
    """Every row and log file a clean with these arguments removes now (nothing is changed)."""
    tables = resolve_tables(tables)
    plan = CleanupPlan(clean_before=clean_before, tables=tables)
    with read_scope(database_url) as session:
        kept = sorted(_kept_run_ids(session))
        not_kept = DagRun.id.not_in(kept) if kept else true()
        run_removed = and_(DagRun.start_date < clean_before, not_kept) if "dag_run" in tables else false()
        ti_removed = run_removed
        if "task_instance" in tables:
            ti_removed = or_(run_removed, and_(TaskInstance.start_date < clean_before, not_kept))
        of_run = and_(DagRun.dag_id == TaskInstance.dag_id, DagRun.run_id == TaskInstance.run_id)
        plan.run_ids = list(session.scalars(select(DagRun.id).where(run_removed).order_by(DagRun.id)))
        plan.run_keys = [tuple(row) for row in session.execute(select(DagRun.dag_id, DagRun.run_id).where(run_removed))]
        plan.task_instance_ids = list(
            session.scalars(select(TaskInstance.id).join(DagRun, of_run).where(ti_removed).order_by(TaskInstance.id))
        )
        # Task instances removed on their own (their run stays): their log folders go too.
        lone_tis = [
            tuple(row)
            for row in session.execute(
                select(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id)
                .join(DagRun, of_run)
                .where(ti_removed, ~run_removed)
                .distinct()
            )
        ]
        ti_of_xcom = and_(
            TaskInstance.dag_id == XCom.dag_id,
            TaskInstance.run_id == XCom.run_id,
            TaskInstance.task_id == XCom.task_id,
            TaskInstance.map_index == XCom.map_index,
        )
        xcom_removed = or_(
            select(DagRun.id).where(DagRun.id == XCom.dag_run_id, run_removed).exists(),
            select(TaskInstance.id).join(DagRun, of_run).where(ti_of_xcom, ti_removed).exists(),
            and_(XCom.timestamp < clean_before, XCom.dag_run_id.not_in(kept) if kept else true())
            if "xcom" in tables
            else false(),
        )
        plan.xcom_keys = [
            tuple(row)
            for row in session.execute(
                select(XCom.dag_run_id, XCom.task_id, XCom.map_index, XCom.key).where(xcom_removed)
            )
        ]
        plan.xcom_keys.sort()
        if "audit_log" in tables:
            plan.audit_log_ids = list(
                session.scalars(select(AuditLog.id).where(AuditLog.dttm < clean_before).order_by(AuditLog.id))
            )
        if "job" in tables:
            plan.job_ids = list(
                session.scalars(select(Job.id).where(Job.latest_heartbeat < clean_before).order_by(Job.id))
            )
    plan.run_keys.sort()
    plan.log_paths = _log_paths(logs_folder, plan.run_keys, lone_tis)
    return plan


def _log_paths(
    logs_folder: Path, run_keys: Iterable[tuple[str, str]], ti_keys: Iterable[tuple[str, str, str]]
) -> list[Path]:
    """Existing log folders of removed runs (logs/<dag>/<run>/) and of removed task instances
    (logs/<dag>/<run>/<task>/), and removed runs' DAG-callback logs."""
    paths = []
    for dag_id, run_id in run_keys:
        for path in (logs_folder / dag_id / run_id, logs_folder / "dag_callbacks" / dag_id / f"{run_id}.log"):
            if _inside(logs_folder, path) and path.exists():
                paths.append(path)
    for dag_id, run_id, task_id in ti_keys:
        path = logs_folder / dag_id / run_id / task_id
        if _inside(logs_folder, path) and path.exists():
            paths.append(path)
    return sorted(paths)


def _inside(folder: Path, path: Path) -> bool:
    """Ids come from the database; a hostile one ('..') must never point outside the logs folder."""
    try:
        return path.resolve().is_relative_to(folder.resolve()) and path.resolve() != folder.resolve()
    except (OSError, ValueError):
        return False


def _batches(items: Sequence, sizer: _BatchSizer) -> Iterable[Sequence]:
    start = 0
    while start < len(items):
        size = sizer.size
        yield items[start : start + size]
        start += size


class _BatchSizer:
    """Grows or shrinks the batch so each transaction takes about TARGET_BATCH_SECONDS."""

    def __init__(self) -> None:
        self.size = FIRST_BATCH
        self.batches = 0
        self.longest = 0.0

    def took(self, seconds: float) -> None:
        self.batches += 1
        self.longest = max(self.longest, seconds)
        if seconds < TARGET_BATCH_SECONDS / 2:
            self.size = min(MAX_BATCH, self.size * 2)
        elif seconds > TARGET_BATCH_SECONDS * 2:
            self.size = max(10, self.size // 2)


def run_cleanup(
    database_url: str, plan: CleanupPlan, *, progress: Callable[[str], None] | None = None
) -> CleanupResult:
    """Remove exactly the plan's rows and log files, in batches; children before the rows they belong to."""
    started = time.monotonic()
    sizer = _BatchSizer()
    counts: dict[str, int] = defaultdict(int)

    def in_batches(name: str, items: Sequence, delete_batch: Callable[[object, Sequence], int]) -> None:
        for batch in _batches(items, sizer):
            t0 = time.monotonic()
            with session_scope(database_url) as session:
                counts[name] += delete_batch(session, batch)
            sizer.took(time.monotonic() - t0)
            time.sleep(PAUSE_BETWEEN_BATCHES)  # let the scheduler and the API take the write lock
        if progress:
            progress(f"{name}: {counts[name]:,} rows removed")

    def xcoms(session, batch) -> int:
        return session.execute(
            delete(XCom).where(tuple_(XCom.dag_run_id, XCom.task_id, XCom.map_index, XCom.key).in_(list(batch)))
        ).rowcount

    def task_instances(session, batch) -> int:
        return session.execute(delete(TaskInstance).where(TaskInstance.id.in_(list(batch)))).rowcount

    def runs(session, batch) -> int:
        ids = list(batch)
        # What else belongs to a run: mapping lengths, sensor reschedules, consumed dataset events.
        keys = select(DagRun.dag_id, DagRun.run_id).where(DagRun.id.in_(ids))
        for model in (TaskMap, TaskReschedule):
            session.execute(delete(model).where(tuple_(model.dag_id, model.run_id).in_(keys)))
        session.execute(delete(DagRunDatasetEvent).where(DagRunDatasetEvent.dag_run_id.in_(ids)))
        return session.execute(delete(DagRun).where(DagRun.id.in_(ids))).rowcount

    def audit_rows(session, batch) -> int:
        return session.execute(delete(AuditLog).where(AuditLog.id.in_(list(batch)))).rowcount

    def jobs(session, batch) -> int:
        return session.execute(delete(Job).where(Job.id.in_(list(batch)))).rowcount

    in_batches("xcom", plan.xcom_keys, xcoms)
    in_batches("task_instance", plan.task_instance_ids, task_instances)
    in_batches("dag_run", plan.run_ids, runs)
    in_batches("audit_log", plan.audit_log_ids, audit_rows)
    in_batches("job", plan.job_ids, jobs)
    removed_paths = 0
    for path in plan.log_paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed_paths += 1
        elif path.exists():
            path.unlink(missing_ok=True)
            removed_paths += 1
    counts["log files and folders"] = removed_paths
    if progress:
        progress(f"log files and folders: {removed_paths:,} removed")
    return CleanupResult(
        counts=dict(counts),
        batches=sizer.batches,
        longest_batch_seconds=sizer.longest,
        seconds=time.monotonic() - started,
    )

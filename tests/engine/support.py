"""Helpers for engine tests: write DAG files, parse them, trigger runs, poll the database with a deadline."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from slipstream.config import Settings
from slipstream.dag_processing import process_all
from slipstream.services.dag_runs import TriggerRequest, trigger_dag_run
from slipstream.storage.db import session_scope
from slipstream.storage.models import DagModel, DagRun, TaskInstance

FINISHED_RUN = ("success", "failed")


# Timers short enough for crash tests to see a dead process or scheduler within seconds.
FAST_TIMERS = {
    "SLIPSTREAM_SCHEDULER_LOOP_INTERVAL": "0.02",
    "SLIPSTREAM_TASK_HEARTBEAT_INTERVAL": "0.2",
    "SLIPSTREAM_ZOMBIE_THRESHOLD": "3",
    "SLIPSTREAM_ZOMBIE_CHECK_INTERVAL": "0.5",
    "SLIPSTREAM_SCHEDULER_HEARTBEAT_INTERVAL": "0.5",
    "SLIPSTREAM_SCHEDULER_HEALTH_CHECK_THRESHOLD": "2",
    "SLIPSTREAM_SCHEDULER_SHUTDOWN_GRACE": "5",
}


def write_dag(settings: Settings, name: str, source: str) -> Path:
    path = settings.dags_folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def sync_dags(settings: Settings) -> None:
    report = process_all(settings)
    assert not report.import_errors, report.import_errors


def add_dag(settings: Settings, name: str, source: str) -> None:
    write_dag(settings, name, source)
    sync_dags(settings)


def set_paused(settings: Settings, dag_id: str, paused: bool) -> None:
    with session_scope(settings.database_url) as db:
        db.execute(update(DagModel).where(DagModel.dag_id == dag_id).values(is_paused=paused))


def trigger(
    settings: Settings, dag_id: str, conf: dict[str, Any] | None = None, execution_date: datetime | None = None
) -> str:
    with session_scope(settings.database_url) as db:
        run, _ = trigger_dag_run(
            db,
            dag_id,
            TriggerRequest(run_id=None, conf=conf or {}, execution_date=execution_date, replace_microseconds=False),
        )
        return run.run_id


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(0.05)


def run_state(settings: Settings, dag_id: str, run_id: str) -> str | None:
    with session_scope(settings.database_url, write=False) as db:
        return db.scalar(select(DagRun.state).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))


def wait_for_run(settings: Settings, dag_id: str, run_id: str, timeout: float = 30.0) -> str:
    return wait_for(
        lambda: s if (s := run_state(settings, dag_id, run_id)) in FINISHED_RUN else None,
        timeout,
        f"run {dag_id}/{run_id} to finish",
    )


def task_instances(settings: Settings, dag_id: str, run_id: str) -> dict[str, TaskInstance]:
    with session_scope(settings.database_url, write=False) as db:
        rows = db.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id))
        return {ti.task_id: ti for ti in rows}


def ti_states(settings: Settings, dag_id: str, run_id: str) -> dict[str, str | None]:
    return {task_id: ti.state for task_id, ti in task_instances(settings, dag_id, run_id).items()}


def read_log(settings: Settings, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
    path = settings.logs_folder / dag_id / run_id / task_id / f"{try_number}.log"
    return path.read_text() if path.exists() else ""


def read_runs(settings: Settings, dag_id: str) -> list[DagRun]:
    with session_scope(settings.database_url, write=False) as db:
        return list(db.scalars(select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.execution_date)))

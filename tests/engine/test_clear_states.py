"""What a clear does to each task instance and to its run, as Airflow 2.10.5's clear_task_instances:
a running try becomes restarting, every other instance loses its state; finished runs are queued
again, running ones carry on."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from slipstream.services.clearing import clear_dag_run
from slipstream.storage.db import session_scope
from slipstream.storage.models import DagRun, TaskInstance, TaskInstanceHistory
from tests.engine.support import add_dag, trigger

STATES = {
    "running": ("running", 1),
    "queued": ("queued", 1),
    "scheduled": ("scheduled", 1),
    "deferred": ("deferred", 1),
    "retrying": ("up_for_retry", 1),
    "done": ("success", 1),
    "broke": ("failed", 2),
    "fresh": (None, 0),
}
DAG = f"""
from datetime import UTC, datetime

from slipstream.sdk import DAG, BashOperator

with DAG("clear_states", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)):
    for task_id in {sorted(STATES)!r}:
        BashOperator(task_id=task_id, bash_command="true", retries=3)
"""


def _set_up(settings, run_state: str) -> str:
    add_dag(settings, "clear_states", DAG)
    run_id = trigger(settings, "clear_states")
    with session_scope(settings.database_url) as db:
        db.execute(update(DagRun).where(DagRun.run_id == run_id).values(state=run_state, clear_number=0))
        for task_id, (state, try_number) in STATES.items():
            db.execute(
                update(TaskInstance)
                .where(TaskInstance.run_id == run_id, TaskInstance.task_id == task_id)
                .values(state=state, try_number=try_number, max_tries=3)
            )
    return run_id


def _instances(settings, run_id: str) -> dict[str, tuple[str | None, int, int]]:
    with session_scope(settings.database_url, write=False) as db:
        rows = db.scalars(select(TaskInstance).where(TaskInstance.run_id == run_id))
        return {ti.task_id: (ti.state, ti.try_number, ti.max_tries) for ti in rows}


@pytest.mark.parametrize("run_state", ["running", "failed"])
def test_a_clear_restarts_the_running_try_and_resets_every_other_instance(engine_settings, run_state):
    run_id = _set_up(engine_settings, run_state)
    with session_scope(engine_settings.database_url) as db:
        assert clear_dag_run(db, "clear_states", run_id)

    assert _instances(engine_settings, run_id) == {
        "running": ("restarting", 1, 3),  # terminated by its supervisor, then up for retry
        "queued": (None, 1, 4),
        "scheduled": (None, 1, 4),
        "deferred": (None, 1, 4),
        "retrying": (None, 1, 4),
        "done": (None, 1, 4),
        "broke": (None, 2, 5),
        "fresh": (None, 0, 3),
    }
    with session_scope(engine_settings.database_url, write=False) as db:
        run = db.scalar(select(DagRun).where(DagRun.run_id == run_id))
        history = dict(db.execute(select(TaskInstanceHistory.task_id, TaskInstanceHistory.state)).all())
    # Only a finished run is queued again (and counts the clear); a running one carries on.
    expected_run = ("queued", 1) if run_state == "failed" else ("running", 0)
    assert (run.state, run.clear_number) == expected_run
    # Each tried instance's try is kept; one that had not finished is kept as failed, as Airflow's record_ti.
    assert history == {
        "running": "failed",
        "queued": "failed",
        "scheduled": "failed",
        "deferred": "failed",
        "retrying": "failed",
        "done": "success",
        "broke": "failed",
    }

"""task_instance_history: a cleared run's finished tries are kept (clear_dag_run, the DAG-run clear and
TriggerDagRunOperator's reset share it), once, and the next tries get new numbers."""

from __future__ import annotations

from sqlalchemy import select

from slipstream.dates import utcnow
from slipstream.services.clearing import clear_dag_run
from slipstream.services.task_history import record_tries
from slipstream.storage.db import session_scope
from slipstream.storage.models import TaskInstance, TaskInstanceHistory
from tests.api.v1 import task_runs

ran_template, ran_settings = task_runs.ran_template, task_runs.ran_settings


def _history(settings, run_id: str) -> list[tuple[str, int, str]]:
    with session_scope(settings.database_url, write=False) as session:
        rows = session.execute(
            select(TaskInstanceHistory.task_id, TaskInstanceHistory.try_number, TaskInstanceHistory.state)
            .where(TaskInstanceHistory.run_id == run_id)
            .order_by(TaskInstanceHistory.task_id)
        ).all()
        return [tuple(row) for row in rows]


def test_clearing_a_run_keeps_each_tried_instance_once(ran_settings):
    with session_scope(ran_settings.database_url, write=False) as session:
        tried = sorted(
            (ti.task_id, ti.try_number, ti.state)
            for ti in session.scalars(select(TaskInstance).where(TaskInstance.run_id == "golden_bash_1"))
            if ti.try_number > 0
        )
    assert ("run_this_last", 0) not in {(t, n) for t, n, _ in tried}  # skipped by its trigger rule, never tried
    with session_scope(ran_settings.database_url) as session:
        assert clear_dag_run(session, "example_bash_operator", "golden_bash_1")
    assert _history(ran_settings, "golden_bash_1") == tried
    with session_scope(ran_settings.database_url) as session:
        ids = session.scalars(select(TaskInstance.id).where(TaskInstance.run_id == "golden_bash_1")).all()
        assert record_tries(session, ids, now=utcnow()) == 0  # each try is recorded once
    assert _history(ran_settings, "golden_bash_1") == tried

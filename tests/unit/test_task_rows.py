"""A run's task instances: the tasks whose start and end dates admit its execution date, each time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from slipstream.models import DagModel, TaskInstance
from slipstream.services.dag_runs import create_dag_run


def _task(task_id: str, start: str | None = None, end: str | None = None) -> dict:
    return {
        "task_id": task_id, "retries": 2, "pool": "default_pool", "pool_slots": 1, "queue": "default",
        "priority_weight_total": 3, "operator": "EmptyOperator", "start_date": start, "end_date": end,
    }  # fmt: skip


DAG = {
    "dag_id": "dated",
    "tasks": {
        "always": _task("always"),
        "from_2021": _task("from_2021", start="2021-01-01T00:00:00+00:00"),
        "until_mid_2021": _task("until_mid_2021", end="2021-06-01T00:00:00+00:00"),
    },
}


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2020, 1, 1, tzinfo=UTC), {"always", "until_mid_2021"}),
        (datetime(2021, 3, 1, tzinfo=UTC), {"always", "from_2021", "until_mid_2021"}),
        (datetime(2021, 6, 1, tzinfo=UTC), {"always", "from_2021", "until_mid_2021"}),  # both ends included
        (datetime(2022, 1, 1, tzinfo=UTC), {"always", "from_2021"}),
    ],
)
def test_each_run_gets_the_tasks_its_date_admits(session, when, expected):
    session.add(DagModel(dag_id="dated"))
    session.flush()
    for run_id, at in (("first", when), ("second", when - timedelta(microseconds=1))):  # reusing the DAG's rows
        create_dag_run(
            session, dag=DAG, run_id=run_id, execution_date=at, conf={},
            run_type="manual", data_interval=(when, when), external_trigger=True,
        )  # fmt: skip
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.max_tries, TaskInstance.priority_weight).where(
                TaskInstance.run_id == run_id
            )
        ).all()
        assert {row.task_id for row in rows} == expected
        assert {(row.max_tries, row.priority_weight) for row in rows} == {(2, 3)}

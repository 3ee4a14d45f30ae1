"""A run's task instances: the tasks whose start and end dates admit its execution date, each time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from slipstream.scheduler.dag_specs import TaskSpec
from slipstream.services.dag_runs import create_dag_run
from slipstream.storage.models import DagModel, DagRun, TaskInstance


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


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2020, 1, 1, tzinfo=UTC), {"always", "until_mid_2021"}),
        (datetime(2021, 6, 1, tzinfo=UTC), {"always", "from_2021", "until_mid_2021"}),
        (datetime(2022, 1, 1, tzinfo=UTC), {"always", "from_2021"}),
    ],
)
def test_the_scheduler_admits_the_same_tasks_as_the_trigger(when, expected):
    """The scheduler adds a run's missing task instances by TaskSpec.admits: the trigger's rule."""
    full = {"upstream_task_ids": [], "downstream_task_ids": [], "retry_delay": 300.0}
    specs = [TaskSpec.from_serialized({**full, **task}) for task in DAG["tasks"].values()]
    assert {spec.task_id for spec in specs if spec.admits(when)} == expected


def _stored(session, run_id: str) -> dict[str, dict]:
    rows = session.scalars(select(TaskInstance).where(TaskInstance.run_id == run_id)).all()
    return {
        row.task_id: {c.key: getattr(row, c.key) for c in TaskInstance.__table__.columns if c.key not in ("id",)}
        for row in rows
    }


def test_a_run_stores_the_rows_the_orm_would_store(session):
    """Every column of the per-DAG statement's rows, against TaskInstance objects flushed by the ORM."""
    dag = {"dag_id": "wide", "tasks": {f"t{i}": _task(f"t{i}") for i in range(3)}}
    dag["tasks"]["t1"] = {**dag["tasks"]["t1"], "pool": "p'ool", "queue": "q\\ue", "operator": None}
    session.add(DagModel(dag_id="wide"))
    session.flush()
    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    run = create_dag_run(
        session, dag=dag, run_id="prepared", execution_date=when, conf={},
        run_type="manual", data_interval=(when, when), external_trigger=True,
    )  # fmt: skip
    for task in dag["tasks"].values():
        session.add(
            TaskInstance(
                dag_id="wide",
                run_id="orm",
                task_id=task["task_id"],
                max_tries=task["retries"],
                pool=task["pool"],
                pool_slots=task["pool_slots"],
                queue=task["queue"],
                priority_weight=task["priority_weight_total"],
                operator=task["operator"],
                custom_operator_name=task["operator"],
                updated_at=run.queued_at,
            )  # fmt: skip
        )
    session.flush()
    session.expire_all()
    prepared, orm = _stored(session, "prepared"), _stored(session, "orm")
    for rows in (prepared, orm):
        for row in rows.values():
            row.pop("run_id")
    assert prepared == orm
    assert prepared["t1"]["pool"] == "p'ool" and prepared["t1"]["queue"] == "q\\ue"
    assert {row["state"] for row in prepared.values()} == {None}
    assert {row["updated_at"] for row in prepared.values()} == {run.queued_at}


def test_a_dag_larger_than_one_statement_gets_every_task_instance(session):
    """SQLite allows 500 SELECTs in one UNION ALL: 1,234 tasks take several statements, each row once."""
    dag = {"dag_id": "big", "tasks": {f"task_{i}": _task(f"task_{i}") for i in range(1234)}}
    session.add(DagModel(dag_id="big"))
    session.flush()
    when = datetime(2024, 1, 1, tzinfo=UTC)
    create_dag_run(
        session, dag=dag, run_id="big_run", execution_date=when, conf={},
        run_type="manual", data_interval=(when, when), external_trigger=True,
    )  # fmt: skip
    task_ids = session.scalars(select(TaskInstance.task_id).where(TaskInstance.run_id == "big_run")).all()
    assert sorted(task_ids) == sorted(dag["tasks"])


def test_a_task_added_after_the_run_gets_the_same_columns_from_the_scheduler(session):
    """RunExaminer adds instances for tasks the DAG gained since the run began (Airflow's
    verify_integrity); they get exactly what the run's own insert gives a task."""
    from slipstream.scheduler.dag_specs import DagSpec, DagSpecCache
    from slipstream.scheduler.dagrun import RunExaminer

    when = datetime(2024, 1, 1, tzinfo=UTC)
    before = {"dag_id": "grows", "tasks": {"first": _task("first")}}
    after = {"dag_id": "grows", "tasks": {"first": _task("first"), "second": {**_task("second"), "pool": "p2"}}}
    session.add(DagModel(dag_id="grows"))
    session.flush()
    create_dag_run(
        session, dag=before, run_id="r", execution_date=when, conf={},
        run_type="manual", data_interval=(when, when), external_trigger=True,
    )  # fmt: skip
    run = session.scalars(select(DagRun).where(DagRun.run_id == "r")).one()
    RunExaminer(DagSpecCache())._add_missing_instances(session, run, DagSpec.from_serialized(after, "h"))
    session.expire_all()
    rows = _stored(session, "r")
    assert set(rows) == {"first", "second"}
    first, second = rows["first"], rows["second"]
    assert second["pool"] == "p2"
    differing = {key for key in first if first[key] != second[key]}
    assert differing == {"task_id", "pool", "updated_at"}  # the scheduler's row is stamped when it is made

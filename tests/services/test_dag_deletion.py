"""Deleting a DAG removes every row of its runs: task instances, XComs, mapping lengths, reschedules,
dataset links and queue entries; Airflow's count covers the rows that carry the dag_id."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, insert, select

from slipstream.services.dag_deletion import delete_dag
from slipstream.storage.dataset_models import DagRunDatasetEvent, DatasetDagRunQueue
from slipstream.storage.db import session_scope
from slipstream.storage.models import DagModel, DagRun, TaskInstance, TaskMap, TaskReschedule, XCom

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def test_deleting_a_dag_leaves_nothing_of_its_runs(settings):
    with session_scope(settings.database_url) as db:
        db.add(DagModel(dag_id="d", fileloc=""))
        db.add(DagModel(dag_id="other", fileloc=""))
        run = DagRun(dag_id="d", run_id="r", execution_date=NOW, state="success")
        db.add(run)
        db.flush()
        db.add(TaskInstance(dag_id="d", run_id="r", task_id="t", state="success"))
        db.add(XCom(dag_run_id=run.id, task_id="t", map_index=-1, key="k", dag_id="d", run_id="r", value="1"))
        db.add(TaskMap(dag_id="d", task_id="t", run_id="r", map_index=-1, length=2))
        db.add(
            TaskReschedule(
                dag_id="d",
                task_id="t",
                run_id="r",
                map_index=-1,
                try_number=1,
                start_date=NOW,
                end_date=NOW,
                duration=0,
                reschedule_date=NOW,
            )
        )
        db.execute(insert(DagRunDatasetEvent).values(dag_run_id=run.id, event_id=1))
        db.execute(insert(DatasetDagRunQueue).values(dataset_id=1, target_dag_id="d", created_at=NOW))
    with session_scope(settings.database_url) as db:
        assert delete_dag(db, "d") == 6  # xcom, task_map, task_reschedule, task_instance, dag_run, dag
    with session_scope(settings.database_url, write=False) as db:
        for model in (DagRun, TaskInstance, XCom, TaskMap, TaskReschedule, DagRunDatasetEvent, DatasetDagRunQueue):
            assert db.scalar(select(func.count()).select_from(model)) == 0, model.__tablename__
        assert db.scalar(select(DagModel.dag_id)) == "other"

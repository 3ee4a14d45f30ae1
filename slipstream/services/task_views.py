"""Tasks and task instances as Airflow's experimental endpoints show them: every value through str()."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipstream.errors import NotFound
from slipstream.models import DagRun, TaskInstance
from slipstream.services.dag_runs import dag_run_repr, get_dag_run
from slipstream.services.serialized import get_serialized_task


def get_task_attributes(session: Session, dag_id: str, task_id: str) -> dict[str, str]:
    _dag, task = get_serialized_task(session, dag_id, task_id)
    return dict(task["display"])


def _text(value: Any) -> str:
    return str(value)


def task_instance_to_json(ti: TaskInstance, run: DagRun) -> dict[str, str]:
    """Airflow 2.10.5's key set plus execution_date (read by 1.10's clients)."""
    fields: dict[str, Any] = {
        "custom_operator_name": ti.custom_operator_name,
        "dag_id": ti.dag_id,
        "dag_run": dag_run_repr(run),
        "duration": ti.duration,
        "end_date": ti.end_date,
        "execution_date": run.execution_date,
        "executor": ti.executor,
        "executor_config": ti.executor_config or {},
        "external_executor_id": ti.external_executor_id,
        "hostname": ti.hostname or "",
        "job_id": ti.job_id,
        "map_index": ti.map_index,
        "max_tries": ti.max_tries,
        "next_kwargs": None,
        "next_method": None,
        "operator": ti.operator,
        "pid": ti.pid,
        "pool": ti.pool,
        "pool_slots": ti.pool_slots,
        "priority_weight": ti.priority_weight,
        "queue": ti.queue,
        "queued_by_job_id": ti.queued_by_job_id,
        "queued_dttm": ti.queued_dttm,
        "rendered_map_index": None,
        "rendered_task_instance_fields": None,
        "run_id": ti.run_id,
        "start_date": ti.start_date,
        "state": ti.state,
        "task_id": ti.task_id,
        "test_mode": False,
        "trigger_id": None,
        "trigger_timeout": None,
        "try_number": ti.try_number,
        "unixname": ti.unixname or "",
        "updated_at": ti.updated_at,
    }
    return {key: _text(value) for key, value in fields.items()}


def get_task_instance(session: Session, dag_id: str, execution_date: datetime, task_id: str) -> dict[str, str]:
    """Checks in Airflow's order: DAG, task, run, then the instance."""
    get_serialized_task(session, dag_id, task_id)
    run = get_dag_run(session, dag_id, execution_date)
    ti = session.scalar(
        select(TaskInstance).where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id == run.run_id,
            TaskInstance.task_id == task_id,
            TaskInstance.map_index == -1,
        )
    )
    if ti is None:
        raise NotFound(f"Task {task_id} instance for date {execution_date} not found")
    return task_instance_to_json(ti, run)

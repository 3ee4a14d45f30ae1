"""Reading DAGs as the dag processor stored them: the only view of a DAG the API and scheduler have."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipstream.errors import NotFound
from slipstream.models import DagModel, SerializedDagModel


def get_dag_model(session: Session, dag_id: str) -> DagModel:
    dag = session.get(DagModel, dag_id)
    if dag is None:
        raise NotFound(f"Dag id {dag_id} not found in DagModel")
    return dag


def get_serialized_dag(session: Session, dag_id: str) -> dict[str, Any]:
    """Airflow's check_and_get_dag: the DagModel row first, then the serialized DAG."""
    get_dag_model(session, dag_id)
    data = session.scalar(select(SerializedDagModel.data).where(SerializedDagModel.dag_id == dag_id))
    if data is None:
        raise NotFound(f"Dag id {dag_id} not found")
    return data


def get_serialized_task(session: Session, dag_id: str, task_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    dag = get_serialized_dag(session, dag_id)
    task = dag["tasks"].get(task_id)
    if task is None:
        raise NotFound(f"Task {task_id} not found in dag {dag_id}")
    return dag, task

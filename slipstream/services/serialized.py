"""Reading DAGs as the dag processor stored them: the only view of a DAG the API and scheduler have."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from slipstream.db import execute_core
from slipstream.errors import NotFound
from slipstream.models import DagModel, SerializedDagModel


def get_dag_model(session: Session, dag_id: str) -> DagModel:
    dag = session.get(DagModel, dag_id)
    if dag is None:
        raise NotFound(f"Dag id {dag_id} not found in DagModel")
    return dag


def _dag_and(column):
    """The DAG's row joined to `column` of its serialized row (NULL when missing), for :dag_id."""
    return (
        select(DagModel.dag_id, column)
        .outerjoin(SerializedDagModel, SerializedDagModel.dag_id == DagModel.dag_id)
        .where(DagModel.dag_id == bindparam("dag_id"))
    )


# Built once: building a statement costs more than running it.
_DAG_AND_DATA = _dag_and(SerializedDagModel.data)
_DAG_AND_SERIALIZED_ID = _dag_and(SerializedDagModel.dag_id)


def _dag_row(session: Session, statement, dag_id: str) -> Any:
    """The joined row's second column; NotFound in Airflow's order: no DagModel row, then no serialized DAG."""
    row = execute_core(session, statement, {"dag_id": dag_id}).first()
    if row is None:
        raise NotFound(f"Dag id {dag_id} not found in DagModel")
    if row[1] is None:
        raise NotFound(f"Dag id {dag_id} not found")
    return row[1]


def get_serialized_dag(session: Session, dag_id: str) -> dict[str, Any]:
    """Airflow's check_and_get_dag: the DagModel row first, then the serialized DAG (in one query)."""
    return _dag_row(session, _DAG_AND_DATA, dag_id)


def check_dag_exists(session: Session, dag_id: str) -> None:
    """get_serialized_dag's checks, in its order and with its messages, without reading the DAG itself."""
    _dag_row(session, _DAG_AND_SERIALIZED_ID, dag_id)


def get_serialized_task(session: Session, dag_id: str, task_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    dag = get_serialized_dag(session, dag_id)
    task = dag["tasks"].get(task_id)
    if task is None:
        raise NotFound(f"Task {task_id} not found in dag {dag_id}")
    return dag, task

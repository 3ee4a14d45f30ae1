"""Reading DAGs as the dag processor stored them: the only view of a DAG the API and scheduler have."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from slipstream.db import execute_core
from slipstream.errors import NotFound
from slipstream.models import DagModel, SerializedDagModel
from slipstream.prepared import Prepared


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


# Built once: building a statement costs more than running it. Both read plain strings, so prepared.
_DAG_AND_HASH = Prepared(_dag_and(SerializedDagModel.dag_hash))
_DAG_AND_SERIALIZED_ID = Prepared(_dag_and(SerializedDagModel.dag_id))
# The data and its hash read by one statement, so the pair is consistent even under READ COMMITTED.
_DATA_AND_HASH = select(SerializedDagModel.data, SerializedDagModel.dag_hash).where(
    SerializedDagModel.dag_id == bindparam("dag_id")
)


def _dag_row(session: Session, statement: Prepared, dag_id: str) -> Any:
    """The joined row's second column; NotFound in Airflow's order: no DagModel row, then no serialized DAG."""
    row = statement.first(session, {"dag_id": dag_id})
    if row is None:
        raise NotFound(f"Dag id {dag_id} not found in DagModel")
    if row[1] is None:
        raise NotFound(f"Dag id {dag_id} not found")
    return row[1]


class _ParsedDags:
    """Parsed serialized DAGs by (dag_id, dag_hash), shared by the requests of this process.

    dag_hash is the SHA-256 of the data (slipstream.dag_processing writes both together), so an entry
    can never be stale: a changed DAG has a new hash and misses. This spares each request parsing the
    JSON blob (the largest part of a trigger's reads). Callers must not mutate what they get.
    """

    def __init__(self, max_entries: int = 512) -> None:
        self._max_entries = max_entries
        self._entries: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, dag_id: str, dag_hash: str) -> dict[str, Any] | None:
        return self._entries.get((dag_id, dag_hash))

    def put(self, dag_id: str, dag_hash: str, data: dict[str, Any]) -> None:
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()  # rare (DAG files changing): simpler than LRU bookkeeping per hit
            self._entries[(dag_id, dag_hash)] = data


_parsed_dags = _ParsedDags()


def get_serialized_dag(session: Session, dag_id: str) -> dict[str, Any]:
    """Airflow's check_and_get_dag: the DagModel row first, then the serialized DAG (in one query).

    The query reads only the hash; the data is read and parsed when this process has not seen that hash.
    """
    dag_hash = _dag_row(session, _DAG_AND_HASH, dag_id)
    data = _parsed_dags.get(dag_id, dag_hash)
    if data is None:
        row = execute_core(session, _DATA_AND_HASH, {"dag_id": dag_id}).first()
        if row is None:  # deleted since the first query (READ COMMITTED sees other commits)
            raise NotFound(f"Dag id {dag_id} not found")
        data, read_hash = row
        _parsed_dags.put(dag_id, read_hash, data)
    return data


def check_dag_exists(session: Session, dag_id: str) -> None:
    """get_serialized_dag's checks, in its order and with its messages, without reading the DAG itself."""
    _dag_row(session, _DAG_AND_SERIALIZED_ID, dag_id)


def get_serialized_task(session: Session, dag_id: str, task_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    dag = get_serialized_dag(session, dag_id)
    task = dag["tasks"].get(task_id)
    if task is None:
        raise NotFound(f"Task {task_id} not found in dag {dag_id}")
    return dag, task

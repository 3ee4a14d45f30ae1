"""Reading DAGs as the dag processor stored them: the only view of a DAG the API and scheduler have."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from slipstream.errors import NotFound
from slipstream.storage.db import execute_core
from slipstream.storage.models import DagModel, SerializedDagModel
from slipstream.storage.prepared import Prepared


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


def serialized_hash(session: Session, dag_id: str) -> str | None:
    """The DAG's serialized hash; None when it has no DagModel row or no serialized DAG (get_serialized_dag's
    NotFound cases)."""
    row = _DAG_AND_HASH.first(session, {"dag_id": dag_id})
    return None if row is None else row[1]


def check_dag_exists(session: Session, dag_id: str) -> None:
    """get_serialized_dag's checks, in its order and with its messages, without reading the DAG itself."""
    _dag_row(session, _DAG_AND_SERIALIZED_ID, dag_id)


def get_serialized_task(session: Session, dag_id: str, task_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    dag = get_serialized_dag(session, dag_id)
    task = dag["tasks"].get(task_id)
    if task is None:
        raise NotFound(f"Task {task_id} not found in dag {dag_id}")
    return dag, task


def serialized_dags_by_hash(session: Session, hashes: dict[str, str]) -> dict[str, tuple[dict[str, Any], str]]:
    """The serialized data of DAGs whose hashes were just read (dag_id -> hash), each with the hash of the
    data given: parsed already for most; read for the others, whose hash is then the one read with the
    data (another than asked for when the DAG changed in between; left out when it was deleted)."""
    found: dict[str, tuple[dict[str, Any], str]] = {}
    missing = []
    for dag_id, dag_hash in hashes.items():
        data = _parsed_dags.get(dag_id, dag_hash)
        if data is None:
            missing.append(dag_id)
        else:
            found[dag_id] = (data, dag_hash)
    if missing:
        statement = select(SerializedDagModel.dag_id, SerializedDagModel.data, SerializedDagModel.dag_hash).where(
            SerializedDagModel.dag_id.in_(missing)
        )
        for dag_id, data, dag_hash in session.execute(statement).all():
            _parsed_dags.put(dag_id, dag_hash, data)
            found[dag_id] = (data, dag_hash)
    return found


def get_serialized_dags(session: Session, dag_ids: list[str]) -> dict[str, tuple[dict[str, Any], datetime]]:
    """Several DAGs' serialized data and when it last changed, by dag_id (missing ones left out).

    Two queries at most: the hashes, then the data of those this process has not parsed yet."""
    if not dag_ids:
        return {}
    rows = session.execute(
        select(SerializedDagModel.dag_id, SerializedDagModel.dag_hash, SerializedDagModel.last_updated).where(
            SerializedDagModel.dag_id.in_(dag_ids)
        )
    ).all()
    found: dict[str, tuple[dict[str, Any], datetime]] = {}
    missing: dict[str, datetime] = {}
    for dag_id, dag_hash, last_updated in rows:
        data = _parsed_dags.get(dag_id, dag_hash)
        if data is None:
            missing[dag_id] = last_updated
        else:
            found[dag_id] = (data, last_updated)
    if missing:
        statement = select(SerializedDagModel.dag_id, SerializedDagModel.data, SerializedDagModel.dag_hash).where(
            SerializedDagModel.dag_id.in_(list(missing))
        )
        for dag_id, data, dag_hash in session.execute(statement).all():
            _parsed_dags.put(dag_id, dag_hash, data)
            found[dag_id] = (data, missing[dag_id])
    return found

"""A DAG file's source, as the dag processor stored it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipstream.errors import NotFound
from slipstream.services.serialized import get_dag_model
from slipstream.storage.models import DagCode


def get_dag_source(session: Session, dag_id: str) -> str:
    dag = get_dag_model(session, dag_id)
    source = session.scalar(select(DagCode.source_code).where(DagCode.fileloc == dag.fileloc))
    if source is None:
        raise NotFound(f"Code of Dag id {dag_id} not found: its file {dag.fileloc} has not been read")
    return source


def get_file_source(session: Session, fileloc: str) -> str | None:
    """A DAG file's source by path (None when it was never read)."""
    return session.scalar(select(DagCode.source_code).where(DagCode.fileloc == fileloc))

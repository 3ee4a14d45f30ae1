"""Pausing and unpausing DAGs: the API writes the flag, the scheduler acts on it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from slipstream.services.serialized import get_dag_model


def set_paused(session: Session, dag_id: str, paused: bool) -> None:
    get_dag_model(session, dag_id).is_paused = paused
    session.flush()


def is_paused(session: Session, dag_id: str) -> bool:
    return bool(get_dag_model(session, dag_id).is_paused)

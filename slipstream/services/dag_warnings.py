"""DAG warnings: problems that do not stop a DAG from loading, recorded by the dag processor.

Airflow's one kind: a task names a pool that does not exist (its instances would never run). The dag
processor rewrites the warnings of every DAG it writes, and re-checks DAGs that have one (a pool
created since clears it), in the same transaction as the DAGs themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from slipstream.storage.models import DagWarning, Pool, SerializedDagModel

NONEXISTENT_POOL = "non-existent pool"


def dag_pools(data: dict[str, Any]) -> set[str]:
    return {str(task.get("pool") or "default_pool") for task in (data.get("tasks") or {}).values()}


def pool_warning_message(dag_id: str, missing: Iterable[str]) -> str:
    return f"Dag '{dag_id}' references non-existent pools: {sorted(missing)!r}"


def sync_pool_warnings(session: Session, dags: dict[str, dict[str, Any]], now: datetime) -> None:
    """Rewrite the non-existent-pool warnings of `dags` (dag_id -> serialized data) and of every DAG
    that has one stored; the others are left as they are."""
    stored = {
        row.dag_id: row
        for row in session.scalars(select(DagWarning).where(DagWarning.warning_type == NONEXISTENT_POOL))
    }
    to_check = dict(dags)
    recheck = [dag_id for dag_id in stored if dag_id not in to_check]
    if recheck:
        rows = session.execute(
            select(SerializedDagModel.dag_id, SerializedDagModel.data).where(SerializedDagModel.dag_id.in_(recheck))
        ).all()
        to_check.update({dag_id: data for dag_id, data in rows})
    if not to_check:
        return
    pools = set(session.scalars(select(Pool.pool)))
    for dag_id, data in to_check.items():
        missing = dag_pools(data) - pools
        row = stored.get(dag_id)
        if not missing:
            if row is not None:
                session.delete(row)
            continue
        message = pool_warning_message(dag_id, missing)
        if row is None:
            session.add(DagWarning(dag_id=dag_id, warning_type=NONEXISTENT_POOL, message=message, timestamp=now))
        elif row.message != message:
            row.message = message
    # Warnings of DAGs that are gone (deactivated, deleted) go with them, as in Airflow.
    gone = set(stored) - set(to_check)
    if gone:
        session.execute(delete(DagWarning).where(DagWarning.dag_id.in_(sorted(gone))))


# -- reading -----------------------------------------------------------------------------------------

SORTABLE = {
    "dag_id": DagWarning.dag_id,
    "warning_type": DagWarning.warning_type,
    "message": DagWarning.message,
    "timestamp": DagWarning.timestamp,
}


def list_warnings(
    session: Session,
    *,
    dag_id: str | None,
    warning_type: str | None,
    order_column: Any,
    descending: bool,
    limit: int,
    offset: int,
) -> tuple[list[DagWarning], int]:
    query = select(DagWarning)
    if dag_id:
        query = query.where(DagWarning.dag_id == dag_id)
    if warning_type:
        query = query.where(DagWarning.warning_type == warning_type)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = order_column.desc() if descending else order_column.asc()
    rows = list(
        session.scalars(query.order_by(order, DagWarning.dag_id, DagWarning.warning_type).offset(offset).limit(limit))
    )
    return rows, total


def warning_json(row: DagWarning) -> dict[str, Any]:
    return {
        "dag_id": row.dag_id,
        "message": row.message,
        "timestamp": row.timestamp.isoformat() if row.timestamp else None,
        "warning_type": row.warning_type,
    }

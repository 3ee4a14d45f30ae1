"""Lineage: the inlets and outlets a run's task instances recorded when they executed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipstream.services.dag_runs import get_dag_run
from slipstream.services.serialized import get_serialized_dag
from slipstream.storage.models import TaskInstance


def get_lineage(session: Session, dag_id: str, execution_date: datetime) -> dict[str, Any]:
    get_serialized_dag(session, dag_id)
    run = get_dag_run(session, dag_id, execution_date)
    rows = session.execute(
        select(TaskInstance.task_id, TaskInstance.lineage)
        .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        .order_by(TaskInstance.task_id)
    )
    task_ids: dict[str, dict[str, list[str]]] = {}
    for task_id, lineage in rows:
        if not isinstance(lineage, dict):
            continue
        recorded = {key: [str(v) for v in lineage[key]] for key in ("inlets", "outlets") if lineage.get(key)}
        if recorded:
            task_ids[task_id] = recorded
    return {"message": f"Lineage for DAG {dag_id} at {execution_date}", "task_ids": task_ids}

"""Dataset-triggered runs (task-model-semantics §13): a DAG scheduled on datasets gets a run once the
datasets queued for it satisfy its condition.

The run: `dataset_triggered`, queued, not external; logical date = the latest queued created_at;
run_id `dataset_triggered__{iso}`; it consumes the events of its datasets since the previous
dataset-triggered run (dagrun_dataset_event), and its data interval spans their source runs' intervals.
All the DAG's queue rows are then deleted. With nothing queued this is one indexed lookup.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipstream.scheduler.dag_specs import DagSpec, DagSpecCache
from slipstream.sdk.datasets import condition_aliases, condition_met
from slipstream.services.dag_runs import create_dag_run
from slipstream.states import DagRunState
from slipstream.storage.dataset_models import (
    DagRunDatasetEvent,
    DagScheduleDatasetReference,
    DatasetAliasDataset,
    DatasetAliasModel,
    DatasetDagRunQueue,
    DatasetEvent,
    DatasetModel,
)
from slipstream.storage.models import DagModel, DagRun

logger = logging.getLogger(__name__)

DATASET_TRIGGERED = "dataset_triggered"


def has_queued_datasets(session: Session) -> bool:
    return session.scalar(select(DatasetDagRunQueue.target_dag_id).limit(1)) is not None


def _alias_resolutions(session: Session, names: set[str]) -> dict[str, set[str]]:
    if not names:
        return {}
    rows = session.execute(
        select(DatasetAliasModel.name, DatasetModel.uri)
        .join(DatasetAliasDataset, DatasetAliasDataset.alias_id == DatasetAliasModel.id)
        .join(DatasetModel, DatasetModel.id == DatasetAliasDataset.dataset_id)
        .where(DatasetAliasModel.name.in_(names))
    ).all()
    resolved: dict[str, set[str]] = {}
    for name, uri in rows:
        resolved.setdefault(name, set()).add(uri)
    return resolved


def create_dataset_triggered_runs(session: Session, specs: DagSpecCache, now: datetime) -> list[tuple[str, str]]:
    """Create the runs whose dataset condition is met; returns (dag_id, run_id) created."""
    from slipstream.scheduler.runs import lock_dags

    queued = session.execute(
        select(DatasetDagRunQueue.target_dag_id, DatasetModel.uri, DatasetDagRunQueue.created_at).join(
            DatasetModel, DatasetModel.id == DatasetDagRunQueue.dataset_id
        )
    ).all()
    if not queued:
        return []
    by_dag: dict[str, dict[str, datetime]] = {}
    for dag_id, uri, created_at in queued:
        by_dag.setdefault(dag_id, {})[uri] = created_at
    live = set(
        session.scalars(
            select(DagModel.dag_id).where(
                DagModel.dag_id.in_(list(by_dag)), DagModel.is_active.is_(True), DagModel.is_paused.is_(False)
            )
        )
    )
    mine = lock_dags(session, live)
    dag_specs = specs.get_many(session, mine)
    created: list[tuple[str, str]] = []
    for dag_id in sorted(mine):
        spec = dag_specs.get(dag_id)
        condition = spec.schedule.get("condition") if spec is not None else None
        if spec is None or condition is None:
            continue
        uris = by_dag[dag_id]
        if not condition_met(condition, set(uris), _alias_resolutions(session, condition_aliases(condition))):
            continue
        if _active_runs(session, dag_id) >= spec.max_active_runs:
            continue
        run_id = _create_run(session, spec, max(uris.values()))
        if run_id is not None:
            created.append((dag_id, run_id))
    return created


def _active_runs(session: Session, dag_id: str) -> int:
    return session.scalar(
        select(func.count())
        .select_from(DagRun)
        .where(DagRun.dag_id == dag_id, DagRun.state.in_([DagRunState.QUEUED.value, DagRunState.RUNNING.value]))
    )


def _create_run(session: Session, spec: DagSpec, logical_date: datetime) -> str | None:
    dag_id = spec.dag_id
    previous = session.scalar(
        select(func.max(DagRun.execution_date)).where(
            DagRun.dag_id == dag_id, DagRun.run_type == DATASET_TRIGGERED, DagRun.execution_date < logical_date
        )
    )
    filters = [DagScheduleDatasetReference.dag_id == dag_id, DatasetEvent.timestamp <= logical_date]
    if previous is not None:
        filters.append(DatasetEvent.timestamp > previous)
    events = session.execute(
        select(DatasetEvent.id, DatasetEvent.timestamp, DagRun.data_interval_start, DagRun.data_interval_end)
        .join(DagScheduleDatasetReference, DagScheduleDatasetReference.dataset_id == DatasetEvent.dataset_id)
        .outerjoin(
            DagRun, (DagRun.dag_id == DatasetEvent.source_dag_id) & (DagRun.run_id == DatasetEvent.source_run_id)
        )
        .where(*filters)
    ).all()
    if events:
        start = min(s if s is not None else ts for _, ts, s, _ in events)
        end = max(e if e is not None else ts for _, ts, _, e in events)
    else:
        start = end = logical_date
    run_id = f"{DATASET_TRIGGERED}__{logical_date.isoformat()}"
    try:
        with session.begin_nested():
            run = create_dag_run(
                session,
                dag=spec.data,
                run_id=run_id,
                execution_date=logical_date,
                conf={},
                run_type=DATASET_TRIGGERED,
                data_interval=(start, end),
                external_trigger=False,
            )
    except IntegrityError:
        logger.info("Not creating %s/%s: a run already exists at that date", dag_id, run_id)
        return None
    if events:
        session.execute(
            DagRunDatasetEvent.__table__.insert(), [{"dag_run_id": run.id, "event_id": e[0]} for e in events]
        )
    # All the DAG's rows read for this run; one a producer committed since (a later created_at) stays
    # for the next run instead of being lost.
    session.execute(
        delete(DatasetDagRunQueue).where(
            DatasetDagRunQueue.target_dag_id == dag_id, DatasetDagRunQueue.created_at <= logical_date
        )
    )
    logger.info("Created DAG run %s/%s", dag_id, run_id)
    return run_id

"""Datasets in the metadata database (task-model-semantics §13): the rows the dag processor keeps for
the datasets DAG files name, and the events a successful producing try writes.

`record_dataset_events` runs in the transaction that records the try's success, so an event exists
exactly when its producer succeeded; it also queues the event for every active, unpaused DAG
scheduled on the dataset (slipstream/scheduler/dataset_runs.py turns the queue into runs).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.orm import Session

from slipstream.services.text_values import matchable, matchable_only
from slipstream.storage.dataset_models import (
    DagRunDatasetEvent,
    DagScheduleDatasetAliasReference,
    DagScheduleDatasetReference,
    DatasetAliasDataset,
    DatasetAliasModel,
    DatasetDagRunQueue,
    DatasetEvent,
    DatasetModel,
    TaskOutletDatasetReference,
)
from slipstream.storage.models import DagModel, DagRun

logger = logging.getLogger(__name__)


def _insert_ignoring_duplicates(session: Session, model: type, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING (rows that exist keep their values: a queue row its first time)."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    session.execute(dialect_insert(model).on_conflict_do_nothing(), rows)


def _condition_names(schedule: dict[str, Any]) -> tuple[set[str], set[str]]:
    from slipstream.sdk.datasets import condition_aliases, condition_uris

    condition = schedule.get("condition")
    if schedule.get("type") not in ("dataset", "dataset_or_time") or not condition:
        return set(), set()
    return condition_uris(condition), condition_aliases(condition)


def ensure_datasets(
    session: Session, uris: Iterable[str], now: datetime, extras: dict[str, dict[str, Any]] | None = None
) -> dict[str, int]:
    """uri -> dataset id, creating the rows that do not exist yet (with their `extras`, if given)."""
    wanted = sorted(set(uris))
    if not wanted:
        return {}
    known = dict(session.execute(select(DatasetModel.uri, DatasetModel.id).where(DatasetModel.uri.in_(wanted))).all())
    missing = [u for u in wanted if u not in known]
    _insert_ignoring_duplicates(
        session,
        DatasetModel,
        [{"uri": u, "extra": (extras or {}).get(u, {}), "created_at": now, "updated_at": now} for u in missing],
    )
    if missing:
        known.update(
            session.execute(select(DatasetModel.uri, DatasetModel.id).where(DatasetModel.uri.in_(missing))).all()
        )
    return known


def ensure_aliases(session: Session, names: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(names))
    if not wanted:
        return {}
    known = dict(
        session.execute(
            select(DatasetAliasModel.name, DatasetAliasModel.id).where(DatasetAliasModel.name.in_(wanted))
        ).all()
    )
    missing = [n for n in wanted if n not in known]
    _insert_ignoring_duplicates(session, DatasetAliasModel, [{"name": n} for n in missing])
    if missing:
        known.update(
            session.execute(
                select(DatasetAliasModel.name, DatasetAliasModel.id).where(DatasetAliasModel.name.in_(missing))
            ).all()
        )
    return known


def sync_dataset_references(session: Session, dags: dict[str, dict[str, Any]], now: datetime) -> None:
    """After a parse: dataset rows for every URI the DAGs name, and which DAG is scheduled on / which
    task produces which. Cheap for DAGs without datasets: one lookup of their existing references."""
    schedules: dict[str, tuple[set[str], set[str]]] = {}
    outlets: dict[tuple[str, str], list[str]] = {}
    aliases: set[str] = set()
    for dag_id, data in dags.items():
        uris, names = _condition_names(data.get("schedule") or {})
        if uris or names:
            schedules[dag_id] = (uris, names)
            aliases |= names
        for task_id, task in (data.get("tasks") or {}).items():
            if task.get("outlet_uris"):
                outlets[(dag_id, task_id)] = task["outlet_uris"]
            aliases |= set(task.get("outlet_aliases") or ())
    dag_ids = list(dags)
    had = set()
    if dag_ids:
        had = (
            set(
                session.scalars(
                    select(DagScheduleDatasetReference.dag_id).where(DagScheduleDatasetReference.dag_id.in_(dag_ids))
                )
            )
            | set(
                session.scalars(
                    select(TaskOutletDatasetReference.dag_id).where(TaskOutletDatasetReference.dag_id.in_(dag_ids))
                )
            )
            | set(
                session.scalars(
                    select(DagScheduleDatasetAliasReference.dag_id).where(
                        DagScheduleDatasetAliasReference.dag_id.in_(dag_ids)
                    )
                )
            )
        )
    touched = sorted(had | set(schedules) | {dag_id for dag_id, _ in outlets})
    if not touched:
        return
    all_uris = {u for uris, _ in schedules.values() for u in uris} | {u for us in outlets.values() for u in us}
    ids = ensure_datasets(session, all_uris, now, _dataset_extras(dags))
    alias_ids = ensure_aliases(session, aliases)
    for model in (DagScheduleDatasetReference, TaskOutletDatasetReference, DagScheduleDatasetAliasReference):
        session.execute(delete(model).where(model.dag_id.in_(touched)))
    stamp = {"created_at": now, "updated_at": now}
    _insert_ignoring_duplicates(
        session,
        DagScheduleDatasetReference,
        [{"dataset_id": ids[u], "dag_id": d, **stamp} for d, (uris, _) in schedules.items() for u in uris],
    )
    _insert_ignoring_duplicates(
        session,
        DagScheduleDatasetAliasReference,
        [{"alias_id": alias_ids[n], "dag_id": d, **stamp} for d, (_, names) in schedules.items() for n in names],
    )
    _insert_ignoring_duplicates(
        session,
        TaskOutletDatasetReference,
        [{"dataset_id": ids[u], "dag_id": d, "task_id": t, **stamp} for (d, t), uris in outlets.items() for u in uris],
    )


def _dataset_extras(dags: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The extras DAG files give their datasets (Dataset(uri, extra=...)), by URI: a new row keeps them."""
    from slipstream.sdk.datasets import condition_extras

    extras: dict[str, dict[str, Any]] = {}
    for data in dags.values():
        condition = (data.get("schedule") or {}).get("condition")
        if condition:
            extras.update(condition_extras(condition))
        for task in (data.get("tasks") or {}).values():
            extras.update(task.get("outlet_extras") or {})
    return extras


def record_dataset_events(
    session: Session,
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int,
    events: list[dict[str, Any]],
    now: datetime,
) -> list[int]:
    """Write a successful try's events ({"uri", "extra", "alias"?}) and queue them for consumers.

    A URI with no dataset row gets no event (Airflow: "DatasetModel ... not found"), unless it came
    through an alias, which creates the dataset and remembers what the alias resolved to."""
    if not events:
        return []
    through_alias = {e["uri"] for e in events if e.get("alias")}
    ids = dict(
        session.execute(
            select(DatasetModel.uri, DatasetModel.id).where(DatasetModel.uri.in_({e["uri"] for e in events}))
        ).all()
    )
    created = [u for u in through_alias if u not in ids]
    if created:
        ids.update(ensure_datasets(session, created, now))
        for uri in created:
            logger.info("Created a new Dataset(uri=%r, extra=None) as it did not exist.", uri)
    alias_ids = ensure_aliases(session, {e["alias"] for e in events if e.get("alias")})
    _insert_ignoring_duplicates(
        session,
        DatasetAliasDataset,
        [{"alias_id": alias_ids[e["alias"]], "dataset_id": ids[e["uri"]]} for e in events if e.get("alias")],
    )
    rows = []
    for event in events:
        dataset_id = ids.get(event["uri"])
        if dataset_id is None:
            logger.warning("DatasetModel Dataset(uri=%r, extra=None) not found", event["uri"])
            continue
        rows.append(
            {
                "dataset_id": dataset_id,
                "extra": event.get("extra") or {},
                "source_dag_id": dag_id,
                "source_task_id": task_id,
                "source_run_id": run_id,
                "source_map_index": map_index,
                "timestamp": now,
            }
        )
    if not rows:
        return []
    event_ids = [
        session.execute(insert(DatasetEvent).values(**row).returning(DatasetEvent.id)).scalar_one() for row in rows
    ]
    _queue_for_consumers(session, {row["dataset_id"] for row in rows}, alias_ids.values(), now)
    return event_ids


def _queue_for_consumers(session: Session, dataset_ids: set[int], alias_ids: Iterable[int], now: datetime) -> None:
    """A queue row per (dataset, active unpaused consumer); an existing row keeps its first created_at."""
    live = (DagModel.is_active.is_(True), DagModel.is_paused.is_(False))
    consumers = session.execute(
        select(DagScheduleDatasetReference.dataset_id, DagScheduleDatasetReference.dag_id)
        .join(DagModel, DagModel.dag_id == DagScheduleDatasetReference.dag_id)
        .where(DagScheduleDatasetReference.dataset_id.in_(dataset_ids), *live)
    ).all()
    alias_ids = list(alias_ids)
    if alias_ids:  # DAGs scheduled on an alias consume the datasets it resolved to
        consumers += session.execute(
            select(DatasetAliasDataset.dataset_id, DagScheduleDatasetAliasReference.dag_id)
            .join(
                DagScheduleDatasetAliasReference,
                DagScheduleDatasetAliasReference.alias_id == DatasetAliasDataset.alias_id,
            )
            .join(DagModel, DagModel.dag_id == DagScheduleDatasetAliasReference.dag_id)
            .where(DatasetAliasDataset.alias_id.in_(alias_ids), DatasetAliasDataset.dataset_id.in_(dataset_ids), *live)
        ).all()
    _insert_ignoring_duplicates(
        session,
        DatasetDagRunQueue,
        [{"dataset_id": d, "target_dag_id": dag, "created_at": now} for d, dag in set(consumers)],
    )


# -- the stable API's reads and writes ------------------------------------------------------------

DATASET_ORDERING = {
    "id": DatasetModel.id,
    "uri": DatasetModel.uri,
    "created_at": DatasetModel.created_at,
    "updated_at": DatasetModel.updated_at,
}
EVENT_ORDERING = {
    "source_dag_id": DatasetEvent.source_dag_id,
    "source_task_id": DatasetEvent.source_task_id,
    "source_run_id": DatasetEvent.source_run_id,
    "source_map_index": DatasetEvent.source_map_index,
    "timestamp": DatasetEvent.timestamp,
}


@dataclass
class DatasetRecord:
    """A dataset with who produces it, who is scheduled on it and the aliases that resolved to it."""

    dataset: DatasetModel
    producing_tasks: list[TaskOutletDatasetReference] = field(default_factory=list)
    consuming_dags: list[DagScheduleDatasetReference] = field(default_factory=list)
    aliases: list[DatasetAliasModel] = field(default_factory=list)


def _records(session: Session, datasets: list[DatasetModel]) -> list[DatasetRecord]:
    records = {d.id: DatasetRecord(d) for d in datasets}
    if not records:
        return []
    ids = list(records)
    for ref in session.scalars(
        select(TaskOutletDatasetReference)
        .where(TaskOutletDatasetReference.dataset_id.in_(ids))
        .order_by(TaskOutletDatasetReference.dag_id, TaskOutletDatasetReference.task_id)
    ):
        records[ref.dataset_id].producing_tasks.append(ref)
    for ref in session.scalars(
        select(DagScheduleDatasetReference)
        .where(DagScheduleDatasetReference.dataset_id.in_(ids))
        .order_by(DagScheduleDatasetReference.dag_id)
    ):
        records[ref.dataset_id].consuming_dags.append(ref)
    for dataset_id, alias in session.execute(
        select(DatasetAliasDataset.dataset_id, DatasetAliasModel)
        .join(DatasetAliasModel, DatasetAliasModel.id == DatasetAliasDataset.alias_id)
        .where(DatasetAliasDataset.dataset_id.in_(ids))
        .order_by(DatasetAliasModel.name)
    ):
        records[dataset_id].aliases.append(alias)
    return [records[d.id] for d in datasets]


def list_datasets(
    session: Session,
    *,
    uri_pattern: str | None,
    dag_ids: list[str] | None,
    order_column: Any,
    descending: bool,
    offset: int,
    limit: int,
) -> tuple[list[DatasetRecord], int]:
    """A page of datasets, and Airflow 2.10.5's total_entries: every dataset, whatever the filters."""
    total = session.scalar(select(func.count()).select_from(DatasetModel)) or 0
    if not matchable(uri_pattern):
        return [], total
    query = select(DatasetModel)
    if dag_ids:
        dag_ids = matchable_only(dag_ids)
        consumed = select(DagScheduleDatasetReference.dataset_id).where(DagScheduleDatasetReference.dag_id.in_(dag_ids))
        produced = select(TaskOutletDatasetReference.dataset_id).where(TaskOutletDatasetReference.dag_id.in_(dag_ids))
        query = query.where(or_(DatasetModel.id.in_(consumed), DatasetModel.id.in_(produced)))
    if uri_pattern:
        escaped = uri_pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(DatasetModel.uri.ilike(f"%{escaped}%", escape="\\"))
    ordered = order_column.desc() if descending else order_column.asc()
    tie = DatasetModel.id.desc() if descending else DatasetModel.id.asc()
    datasets = list(session.scalars(query.order_by(ordered, tie).offset(offset).limit(limit)))
    return _records(session, datasets), total


def get_dataset_record(session: Session, uri: str) -> DatasetRecord | None:
    if not matchable(uri):
        return None
    dataset = session.scalar(select(DatasetModel).where(DatasetModel.uri == uri))
    return None if dataset is None else _records(session, [dataset])[0]


@dataclass
class EventRecord:
    """A dataset event with its dataset's URI and the runs that consumed it (Airflow's created_dagruns)."""

    event: DatasetEvent
    uri: str
    created_dagruns: list[DagRun] = field(default_factory=list)


def _event_records(session: Session, rows: list[tuple[DatasetEvent, str]]) -> list[EventRecord]:
    records = [EventRecord(event, uri) for event, uri in rows]
    by_id = {r.event.id: r for r in records}
    if by_id:
        for event_id, run in session.execute(
            select(DagRunDatasetEvent.event_id, DagRun)
            .join(DagRun, DagRun.id == DagRunDatasetEvent.dag_run_id)
            .where(DagRunDatasetEvent.event_id.in_(list(by_id)))
            .order_by(DagRun.id)
        ):
            by_id[event_id].created_dagruns.append(run)
    return records


def event_records(session: Session, rows: list[tuple[DatasetEvent, str]]) -> list[EventRecord]:
    return _event_records(session, rows)


def list_dataset_events(
    session: Session,
    *,
    dataset_id: int | None,
    source_dag_id: str | None,
    source_task_id: str | None,
    source_run_id: str | None,
    source_map_index: int | None,
    order_column: Any,
    descending: bool,
    offset: int,
    limit: int,
) -> tuple[list[EventRecord], int]:
    if not matchable(source_dag_id, source_task_id, source_run_id):
        return [], 0
    conditions = []
    for column, value in (
        (DatasetEvent.dataset_id, dataset_id),
        (DatasetEvent.source_dag_id, source_dag_id),
        (DatasetEvent.source_task_id, source_task_id),
        (DatasetEvent.source_run_id, source_run_id),
        (DatasetEvent.source_map_index, source_map_index),
    ):
        if value is not None:
            conditions.append(column == value)
    total = session.scalar(select(func.count()).select_from(DatasetEvent).where(*conditions)) or 0
    ordered = order_column.desc() if descending else order_column.asc()
    tie = DatasetEvent.id.desc() if descending else DatasetEvent.id.asc()
    rows = session.execute(
        select(DatasetEvent, DatasetModel.uri)
        .join(DatasetModel, DatasetModel.id == DatasetEvent.dataset_id)
        .where(*conditions)
        .order_by(ordered, tie)
        .offset(offset)
        .limit(limit)
    ).all()
    return _event_records(session, [(e, u) for e, u in rows]), total


def create_dataset_event(session: Session, uri: str, extra: dict[str, Any], now: datetime) -> EventRecord | None:
    """An event from outside any task (the stable API's POST /datasets/events): stored and queued for the
    dataset's consumers exactly as a producing task's outlet event is. None when no dataset has `uri`."""
    if not matchable(uri):
        return None
    dataset_id = session.scalar(select(DatasetModel.id).where(DatasetModel.uri == uri))
    if dataset_id is None:
        return None
    event_id = session.execute(
        insert(DatasetEvent)
        .values(dataset_id=dataset_id, extra=extra, source_map_index=-1, timestamp=now)
        .returning(DatasetEvent.id)
    ).scalar_one()
    alias_ids = session.scalars(
        select(DatasetAliasDataset.alias_id).where(DatasetAliasDataset.dataset_id == dataset_id)
    )
    _queue_for_consumers(session, {dataset_id}, list(alias_ids), now)
    event = session.get(DatasetEvent, event_id)
    return EventRecord(event, uri)


def _queued_conditions(*, dag_id: str | None, uri: str | None, before: datetime | None) -> list[Any]:
    conditions = []
    if dag_id is not None:
        conditions.append(DatasetDagRunQueue.target_dag_id == dag_id)
    if uri is not None:
        conditions.append(DatasetDagRunQueue.dataset_id.in_(select(DatasetModel.id).where(DatasetModel.uri == uri)))
    if before is not None:
        conditions.append(DatasetDagRunQueue.created_at < before)
    return conditions


def queued_events(
    session: Session, *, dag_id: str | None = None, uri: str | None = None, before: datetime | None = None
) -> list[tuple[str, str, datetime]]:
    """(uri, dag_id, created_at) of the queued dataset events for a consumer DAG and/or a dataset."""
    if not matchable(dag_id, uri):
        return []
    return [
        (u, d, c)
        for u, d, c in session.execute(
            select(DatasetModel.uri, DatasetDagRunQueue.target_dag_id, DatasetDagRunQueue.created_at)
            .join(DatasetModel, DatasetModel.id == DatasetDagRunQueue.dataset_id)
            .where(*_queued_conditions(dag_id=dag_id, uri=uri, before=before))
            .order_by(DatasetDagRunQueue.target_dag_id, DatasetModel.uri)
        )
    ]


def delete_queued_events(
    session: Session, *, dag_id: str | None = None, uri: str | None = None, before: datetime | None = None
) -> int:
    """Forget queued events (the consumer will not be triggered by them); how many went."""
    if not matchable(dag_id, uri):
        return 0
    statement = delete(DatasetDagRunQueue).where(*_queued_conditions(dag_id=dag_id, uri=uri, before=before))
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0

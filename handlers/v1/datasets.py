"""/datasets...: datasets, dataset events (read and created), and the events queued for consumer DAGs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.responses import Response

from handlers._dispatch import database_read
from handlers._responses import json_response
from handlers._unit_of_work import group_committed, reading
from handlers.v1._action_logging import action_logging
from handlers.v1._dates import utc_datetime
from handlers.v1._pagination import ordering, page_limit
from slipstream.api.v1_problems import V1Problem, bad_request, not_found
from slipstream.dates import utcnow
from slipstream.services import datasets
from slipstream.services.datasets import DATASET_ORDERING, EVENT_ORDERING, DatasetRecord, EventRecord

# Past every row is past every row: a huge offset would overflow the database's integer.
MAX_OFFSET = 2**62


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def dataset_json(record: DatasetRecord) -> dict[str, Any]:
    dataset = record.dataset
    return {
        "aliases": [{"id": a.id, "name": a.name} for a in record.aliases],
        "consuming_dags": [
            {"created_at": _iso(r.created_at), "dag_id": r.dag_id, "updated_at": _iso(r.updated_at)}
            for r in record.consuming_dags
        ],
        "created_at": _iso(dataset.created_at),
        "extra": dataset.extra,
        "id": dataset.id,
        "producing_tasks": [
            {
                "created_at": _iso(r.created_at),
                "dag_id": r.dag_id,
                "task_id": r.task_id,
                "updated_at": _iso(r.updated_at),
            }
            for r in record.producing_tasks
        ],
        "updated_at": _iso(dataset.updated_at),
        "uri": dataset.uri,
    }


def event_json(record: EventRecord) -> dict[str, Any]:
    event = record.event
    return {
        "created_dagruns": [
            {
                "dag_id": run.dag_id,
                "dag_run_id": run.run_id,
                "data_interval_end": _iso(run.data_interval_end),
                "data_interval_start": _iso(run.data_interval_start),
                "end_date": _iso(run.end_date),
                "logical_date": _iso(run.execution_date),
                "start_date": _iso(run.start_date),
                "state": run.state,
            }
            for run in record.created_dagruns
        ],
        "dataset_id": event.dataset_id,
        "dataset_uri": record.uri,
        "extra": event.extra,
        "id": event.id,
        "source_dag_id": event.source_dag_id,
        "source_map_index": event.source_map_index,
        "source_run_id": event.source_run_id,
        "source_task_id": event.source_task_id,
        "timestamp": _iso(event.timestamp),
    }


@database_read
def get_datasets(
    limit: int | None = None,
    offset: int | None = None,
    order_by: str | None = None,
    uri_pattern: str | None = None,
    dag_ids: str | None = None,
):
    size = page_limit(limit)
    column, descending = ordering(order_by, DATASET_ORDERING, "id")
    wanted_dags = [d for d in dag_ids.split(",") if d] if dag_ids else None
    with reading() as session:
        records, total = datasets.list_datasets(
            session,
            uri_pattern=uri_pattern,
            dag_ids=wanted_dags,
            order_column=column,
            descending=descending,
            offset=min(offset or 0, MAX_OFFSET),
            limit=size,
        )
        return json_response({"datasets": [dataset_json(r) for r in records], "total_entries": total})


@database_read
def get_dataset(uri: str):
    with reading() as session:
        record = datasets.get_dataset_record(session, uri)
        if record is None:
            raise not_found("Dataset not found", f"The Dataset with uri: `{uri}` was not found")
        return json_response(dataset_json(record))


@database_read
def get_dataset_events(
    limit: int | None = None,
    offset: int | None = None,
    order_by: str | None = None,
    dataset_id: int | None = None,
    source_dag_id: str | None = None,
    source_task_id: str | None = None,
    source_run_id: str | None = None,
    source_map_index: int | None = None,
):
    size = page_limit(limit)
    column, descending = ordering(order_by, EVENT_ORDERING, "timestamp")
    with reading() as session:
        records, total = datasets.list_dataset_events(
            session,
            dataset_id=dataset_id,
            source_dag_id=source_dag_id,
            source_task_id=source_task_id,
            source_run_id=source_run_id,
            source_map_index=source_map_index,
            order_column=column,
            descending=descending,
            offset=min(offset or 0, MAX_OFFSET),
            limit=size,
        )
        return json_response({"dataset_events": [event_json(r) for r in records], "total_entries": total})


@action_logging("create_dataset_event")
async def create_dataset_event(body: dict[str, Any]):
    unknown = sorted(set(body) - {"dataset_uri", "extra"})
    if unknown:
        raise bad_request(repr({name: ["Unknown field."] for name in unknown}))
    uri = body["dataset_uri"]
    extra = {**(body.get("extra") or {}), "from_rest_api": True}

    def create(session):
        record = datasets.create_dataset_event(session, uri, extra, utcnow())
        if record is None:
            raise not_found("Dataset not found", f"Dataset with uri: '{uri}' not found")
        return event_json(record)

    return json_response(await group_committed(create))


def _queued_not_found(*, dag_id: str | None = None, uri: str | None = None) -> V1Problem:
    if dag_id is not None and uri is not None:
        detail = f"Queue event with dag_id: `{dag_id}` and dataset uri: `{uri}` was not found"
    elif dag_id is not None:
        detail = f"Queue event with dag_id: `{dag_id}` was not found"
    else:
        detail = f"Queue event with dataset uri: `{uri}` was not found"
    return not_found("Queue event not found", detail)


def _queued_json(uri: str, dag_id: str, created_at: datetime) -> dict[str, Any]:
    return {"created_at": _iso(created_at), "dag_id": dag_id, "uri": uri}


def _queued_collection(*, dag_id: str | None = None, uri: str | None = None, before: str | None = None):
    with reading() as session:
        events = datasets.queued_events(session, dag_id=dag_id, uri=uri, before=utc_datetime(before))
    if not events:
        raise _queued_not_found(dag_id=dag_id, uri=uri)
    return json_response({"queued_events": [_queued_json(*e) for e in events], "total_entries": len(events)})


async def _delete_queued(*, dag_id: str | None = None, uri: str | None = None, before: str | None = None):
    when = utc_datetime(before)

    def work(session):
        if not datasets.delete_queued_events(session, dag_id=dag_id, uri=uri, before=when):
            raise _queued_not_found(dag_id=dag_id, uri=uri)

    await group_committed(work)
    return Response(status_code=204)


@database_read
def get_dag_dataset_queued_events(dag_id: str, before: str | None = None):
    return _queued_collection(dag_id=dag_id, before=before)


@database_read
def get_dataset_queued_events(uri: str, before: str | None = None):
    return _queued_collection(uri=uri, before=before)


@database_read
def get_dag_dataset_queued_event(dag_id: str, uri: str, before: str | None = None):
    with reading() as session:
        events = datasets.queued_events(session, dag_id=dag_id, uri=uri, before=utc_datetime(before))
    if not events:
        raise _queued_not_found(dag_id=dag_id, uri=uri)
    return json_response(_queued_json(*events[0]))


@action_logging("delete_dag_dataset_queued_events")
async def delete_dag_dataset_queued_events(dag_id: str, before: str | None = None):
    return await _delete_queued(dag_id=dag_id, before=before)


@action_logging("delete_dataset_queued_events")
async def delete_dataset_queued_events(uri: str, before: str | None = None):
    return await _delete_queued(uri=uri, before=before)


@action_logging("delete_dag_dataset_queued_event")
async def delete_dag_dataset_queued_event(dag_id: str, uri: str, before: str | None = None):
    return await _delete_queued(dag_id=dag_id, uri=uri, before=before)

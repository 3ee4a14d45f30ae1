"""/dags/{dag_id}/dagRuns...: list (and the batch list), get, trigger, state, clear, note, delete, and the
dataset events that triggered a run."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from starlette.responses import Response

from handlers._audit import actor
from handlers._dispatch import database_read
from handlers._responses import json_body_response, json_response
from handlers._unit_of_work import group_committed, reading
from handlers.v1._action_logging import action_logging
from handlers.v1._dates import utc_datetime
from handlers.v1._pagination import ordering, page_limit
from handlers.v1.datasets import event_json
from slipstream.api.v1_problems import V1Problem, already_exists, bad_request, not_found
from slipstream.dates import utcnow
from slipstream.errors import NotFound
from slipstream.services import audit, clearing, dag_run_lists, dag_run_records, dag_runs
from slipstream.services.dag_run_records import NOTE_MAX_LENGTH, RUN_ORDERING, RunFilters, run_json
from slipstream.services.datasets import event_records
from slipstream.services.external_markers import MarkerError
from slipstream.services.serialized import get_serialized_dag
from slipstream.services.text_values import matchable
from slipstream.storage.models import DagRun

# The DAGRun schema's fields, in the order Airflow dumps them (answers are sorted by key anyway).
RUN_FIELDS = (
    "dag_run_id", "dag_id", "logical_date", "execution_date", "start_date", "end_date", "state",
    "external_trigger", "conf", "data_interval_start", "data_interval_end", "last_scheduling_decision",
    "run_type", "note",
)  # fmt: skip
# What a trigger's body may hold beside the read-only fields (which the contract refuses itself).
TRIGGER_FIELDS = frozenset(
    {"dag_run_id", "logical_date", "execution_date", "data_interval_start", "data_interval_end", "conf", "note"}
)
# The DAGRun schema's read-only fields, which a trigger may not set (Connexion leaves readOnly unchecked).
READ_ONLY_FIELDS = (
    "dag_id", "start_date", "end_date", "state", "external_trigger", "last_scheduling_decision", "run_type",
)  # fmt: skip
BATCH_FIELDS = frozenset(
    {
        "order_by", "page_offset", "page_limit", "dag_ids", "states", "execution_date_gte",
        "execution_date_lte", "start_date_gte", "start_date_lte", "end_date_gte", "end_date_lte",
        "updated_at_gte", "updated_at_lte",
    }
)  # fmt: skip


MAX_OFFSET = 2**62


def _wanted_fields(fields: Iterable[str] | None, title: str) -> list[str] | None:
    """`fields` repeated or comma-separated; an unknown one is Airflow's schema error."""
    if not fields:
        return None
    wanted = [name for value in fields for name in value.split(",") if name]
    for name in wanted:
        if name not in RUN_FIELDS:
            raise bad_request(f"{name} not in DAGRunSchema", title=title)
    return wanted or None


def _only(body: dict[str, Any], wanted: list[str] | None) -> dict[str, Any]:
    return body if wanted is None else {name: body[name] for name in wanted}


def _offset(offset: int | None) -> int:
    """Past every row is past every row: a huge offset would overflow the database's integer."""
    return min(offset or 0, MAX_OFFSET)


def _unknown_fields(body: dict[str, Any], known: frozenset[str]) -> None:
    unknown = sorted(set(body) - known)
    if unknown:
        raise bad_request(repr({name: ["Unknown field."] for name in unknown}))


def _check_note(note: str | None) -> None:
    if note is None:
        return
    if len(note) > NOTE_MAX_LENGTH:
        raise bad_request(repr({"note": [f"Longer than maximum length {NOTE_MAX_LENGTH}."]}))
    if not matchable(note):  # no database text column holds it (PostgreSQL refuses it)
        raise bad_request("The note must not contain a NUL character")


def _run_not_found(dag_id: str, dag_run_id: str) -> V1Problem:
    return not_found("DAGRun not found", f"DAGRun with DAG ID: '{dag_id}' and DagRun ID: '{dag_run_id}' not found")


@database_read
def get_dag_runs(
    dag_id: str,
    limit: int | None = None,
    offset: int | None = None,
    execution_date_gte: str | None = None,
    execution_date_lte: str | None = None,
    start_date_gte: str | None = None,
    start_date_lte: str | None = None,
    end_date_gte: str | None = None,
    end_date_lte: str | None = None,
    updated_at_gte: str | None = None,
    updated_at_lte: str | None = None,
    state: list[str] | None = None,
    order_by: str | None = None,
    fields: list[str] | None = None,
):
    size = page_limit(limit)
    column, descending = ordering(order_by, RUN_ORDERING, "id")
    wanted = _wanted_fields(fields, "DAGRunCollectionSchema error")
    filters = RunFilters(
        dag_ids=None if dag_id == "~" else [dag_id],
        states=state or None,
        execution_date_gte=utc_datetime(execution_date_gte),
        execution_date_lte=utc_datetime(execution_date_lte),
        start_date_gte=utc_datetime(start_date_gte),
        start_date_lte=utc_datetime(start_date_lte),
        end_date_gte=utc_datetime(end_date_gte),
        end_date_lte=utc_datetime(end_date_lte),
        updated_at_gte=utc_datetime(updated_at_gte),
        updated_at_lte=utc_datetime(updated_at_lte),
    )
    with reading() as session:
        shown = dag_run_lists.list_runs_json(
            session,
            filters,
            order_column=column,
            descending=descending,
            offset=_offset(offset),
            limit=size,
            fields=wanted,
        )
    return json_body_response(shown)


@database_read
def get_dag_runs_batch(body: dict[str, Any]):
    _unknown_fields(body, BATCH_FIELDS)
    column, descending = ordering(body.get("order_by"), RUN_ORDERING, "id")
    filters = RunFilters(
        dag_ids=body.get("dag_ids") or None,
        states=body.get("states") or None,
        **{name: utc_datetime(body.get(name)) for name in BATCH_FIELDS if name.endswith(("_gte", "_lte"))},
    )
    with reading() as session:
        shown = dag_run_lists.list_runs_json(
            session,
            filters,
            order_column=column,
            descending=descending,
            offset=_offset(body.get("page_offset")),
            limit=body.get("page_limit") or 100,
        )
    return json_body_response(shown)


@database_read
def get_dag_run(dag_id: str, dag_run_id: str, fields: list[str] | None = None):
    with reading() as session:
        run = dag_run_records.find_run(session, dag_id, dag_run_id)
        if run is None:
            raise _run_not_found(dag_id, dag_run_id)
        return json_response(_only(run_json(run), _wanted_fields(fields, "DAGRunSchema error")))


def _trigger_dates(body: dict[str, Any]) -> datetime:
    """The logical date, as Airflow's schema loads it: `execution_date` is its old name and must agree."""
    logical, execution = body.get("logical_date"), body.get("execution_date")
    if logical is not None and execution is not None and logical != execution:
        raise bad_request(f"{logical!r} != {execution!r}", title="logical_date conflicts with execution_date")
    raw = logical if logical is not None else execution
    return utcnow() if raw is None else utc_datetime(raw)


async def post_dag_run(dag_id: str, body: dict[str, Any]):
    for name in READ_ONLY_FIELDS:
        if name in body:
            raise bad_request(f"Property is read-only - '{name}'")
    logical_date = _trigger_dates(body)
    _unknown_fields(body, TRIGGER_FIELDS)
    note = body.get("note")
    _check_note(note)
    start, end = utc_datetime(body.get("data_interval_start")), utc_datetime(body.get("data_interval_end"))
    if (start is None) != (end is None):
        message = "Both 'data_interval_start' and 'data_interval_end' must be specified together"
        raise bad_request(repr({"_schema": [message]}))
    run_id = body.get("dag_run_id") or f"manual__{logical_date.isoformat()}"
    conf = body.get("conf") or {}
    who = actor()

    def create(session):
        try:
            if not matchable(dag_id):
                raise NotFound(dag_id)
            dag = get_serialized_dag(session, dag_id)
        except NotFound:
            raise not_found("DAG not found", f"DAG with dag_id: '{dag_id}' not found") from None

        def duplicate() -> V1Problem:
            return _duplicate_run(session, dag_id, run_id, logical_date)

        run = dag_runs.create_manual_run(
            session,
            dag,
            run_id=run_id,
            execution_date=logical_date,
            conf=conf,
            duplicate=duplicate,
            data_interval=None if start is None else (start, end),
        )
        if note:  # Airflow keeps no empty note
            dag_run_records.set_note(session, run, note)
        # The same audit entry as the experimental API's trigger: who created which run, when for.
        extra = {"run_id": run_id, "execution_date": logical_date.isoformat()}
        audit.record(session, audit.DAG_RUN_TRIGGER, dag_id=dag_id, target=run_id, extra=extra, **who)
        return run

    run = await group_committed(create)
    return json_response(run_json(run, note=note or None))


def _duplicate_run(session, dag_id: str, run_id: str, logical_date: datetime) -> V1Problem:
    """Airflow's two 409s: the logical date's when a run has it, else the run id's."""
    try:
        same_date = session.scalar(
            select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.execution_date == logical_date)
        )
    except Exception:  # the transaction failed on the insert (a race lost): the id's message will do
        same_date = None
    if same_date is not None:
        when = logical_date.isoformat(sep=" ")
        return already_exists(f"DAGRun with DAG ID: '{dag_id}' and DAGRun logical date: '{when}' already exists")
    return already_exists(f"DAGRun with DAG ID: '{dag_id}' and DAGRun ID: '{run_id}' already exists")


def _changed_run(dag_id: str, dag_run_id: str, change, *, missing: str) -> Any:
    """Run `change(session, run)` on the run read for update; the run as it is afterwards."""

    def work(session):
        run = dag_run_records.find_run(session, dag_id, dag_run_id, for_update=True)
        if run is None:
            raise not_found(missing)
        result = change(session, run)
        session.flush()
        session.expire(run)
        return run_json(run) if result is None else result

    return group_committed(work)


@action_logging("update_dag_run_state")
async def update_dag_run_state(dag_id: str, dag_run_id: str, body: dict[str, Any]):
    _unknown_fields(body, frozenset({"state"}))

    def change(session, run):
        dag_run_records.mark_run(session, run, body["state"])

    missing = f"Dag Run id {dag_run_id} not found in dag {dag_id}"
    return json_response(await _changed_run(dag_id, dag_run_id, change, missing=missing))


@action_logging("clear_dag_run")
async def clear_dag_run(dag_id: str, dag_run_id: str, body: dict[str, Any]):
    _unknown_fields(body, frozenset({"dry_run"}))
    dry_run = body.get("dry_run", True)

    def change(session, run):
        try:
            if dry_run:
                tis = clearing.task_instances_to_clear(session, dag_id, dag_run_id)
                references = [
                    {
                        "dag_id": ti.dag_id,
                        "dag_run_id": ti.run_id,
                        "execution_date": when.isoformat(),
                        "task_id": ti.task_id,
                    }
                    for ti, when in tis
                ]
                return {"task_instances": references}
            clearing.clear_dag_run(session, dag_id, dag_run_id)
        except MarkerError as error:
            raise bad_request(str(error)) from None
        return None

    # Airflow's message, its three spaces included.
    missing = f"Dag Run id {dag_run_id} not found in dag   {dag_id}"
    return json_response(await _changed_run(dag_id, dag_run_id, change, missing=missing))


@action_logging("set_dag_run_note")
async def set_dag_run_note(dag_id: str, dag_run_id: str, body: dict[str, Any]):
    _unknown_fields(body, frozenset({"note"}))
    note = body["note"]
    _check_note(note)

    def change(session, run):
        dag_run_records.set_note(session, run, note)

    missing = f"Dag Run id {dag_run_id} not found in dag {dag_id}"
    return json_response(await _changed_run(dag_id, dag_run_id, change, missing=missing))


@action_logging("delete_dag_run")
async def delete_dag_run(dag_id: str, dag_run_id: str):
    def work(session):
        if not dag_run_records.delete_run(session, dag_id, dag_run_id):
            raise not_found(detail=f"DAGRun with DAG ID: '{dag_id}' and DagRun ID: '{dag_run_id}' not found")

    await group_committed(work)
    return Response(status_code=204)


@database_read
def get_upstream_dataset_events(dag_id: str, dag_run_id: str):
    with reading() as session:
        run = dag_run_records.find_run(session, dag_id, dag_run_id)
        if run is None:
            raise _run_not_found(dag_id, dag_run_id)
        events = event_records(session, dag_run_records.consumed_dataset_events(session, run.id))
        return json_response({"dataset_events": [event_json(e) for e in events], "total_entries": len(events)})

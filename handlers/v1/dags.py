"""/dags, /dags/{dag_id} (details, tasks), /dagSources, /dagStats, /dagWarnings and /parseDagFile.

Errors are worded per endpoint as Airflow 2.10.5 words them (see the golden transcripts); where Airflow
answers 500 on a malformed request (a PATCH body without `is_paused`), the answer is a 400 naming it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from starlette.responses import Response

from handlers._audit import actor
from handlers._dispatch import database_read
from handlers._responses import json_body_response, json_response
from handlers._unit_of_work import group_committed, reading
from handlers.v1._action_logging import action_logging
from handlers.v1._bodies import page_offset
from handlers.v1._pagination import ordering, page_limit
from slipstream.api.http import current_settings
from slipstream.api.v1_problems import V1Problem, already_exists, bad_request, not_found
from slipstream.errors import BadRequest, Conflict, NotFound
from slipstream.services import audit, dag_code, dag_deletion, dag_views, dag_warnings, dags, pausing, reparse
from slipstream.services.file_tokens import file_token, fileloc_of, secret_key
from slipstream.services.serialized import get_serialized_dag, get_serialized_dags
from slipstream.services.text_values import matchable_only
from slipstream.storage.models import DagModel, utcnow

_ONLY_IS_PAUSED = "Only `is_paused` field can be updated through the REST API"
_DAG_ORDERING = {"dag_id": "dag_id"}


def _token_of(path: str) -> str:
    return file_token(current_settings(), path)


def _tokens_for_writer():
    """_token_of for a unit of work, which may run on the writer thread (outside this request's context)."""
    settings = current_settings()
    return lambda path: file_token(settings, path)


def _names(values: Iterable[str] | None) -> list[str]:
    """A repeatable parameter whose values may also be comma-separated (`fields=a,b&fields=c`)."""
    return [name.strip() for value in values or () for name in str(value).split(",") if name.strip()]


def _dag_not_found(dag_id: str) -> V1Problem:
    return not_found("DAG not found", f"The DAG with dag_id: {dag_id} was not found")


def _patch_not_found(dag_id: str) -> V1Problem:
    return not_found(f"Dag with id: '{dag_id}' not found")


def _bad_fields(error: BadRequest, title: str) -> V1Problem:
    return bad_request(error.message, title=title)


# -- DAGs ------------------------------------------------------------------------------------------


@database_read
def get_dags(
    limit: int | None = None,
    offset: int = 0,
    order_by: str | None = None,
    tags: list[str] | None = None,
    only_active: bool = True,
    paused: bool | None = None,
    fields: list[str] | None = None,
    dag_id_pattern: str | None = None,
):
    limit = page_limit(limit)
    _, descending = ordering(order_by, _DAG_ORDERING, "dag_id")
    try:
        keys = dag_views.check_fields(_names(fields), dag_views.DAG_FIELDS, "DAGSchema")
    except BadRequest as error:
        raise _bad_fields(error, "DAGCollectionSchema error") from None
    where = dag_views.DagFilter(
        only_active=only_active, paused=paused, dag_id_pattern=dag_id_pattern, tags=tuple(_names(tags))
    )
    settings = current_settings()
    with reading() as session:
        shown = dag_views.dag_list_json(
            session,
            where,
            limit=limit,
            offset=page_offset(offset),
            descending=descending,
            keys=keys,
            token_of=lambda path: file_token(settings, path),
            token_scope=secret_key(settings),
        )
    return json_body_response(shown)


@database_read
def get_dag(dag_id: str, fields: list[str] | None = None):
    with reading() as session:
        row = session.get(DagModel, dag_id)
        if row is None:
            raise _dag_not_found(dag_id)
        try:
            keys = dag_views.check_fields(_names(fields), dag_views.DAG_FIELDS, "DAGSchema")
        except BadRequest as error:
            raise _bad_fields(error, "DAGSchema init error") from None
        (shown,) = dag_views.dags_json(session, [row], token_of=_token_of)
    return json_response(dag_views.select_fields(shown, keys))


@database_read
def get_dag_details(dag_id: str, fields: list[str] | None = None):
    with reading() as session:
        row = session.get(DagModel, dag_id)
        serialized = get_serialized_dags(session, [dag_id]).get(dag_id)
        if row is None or serialized is None:  # Airflow reads the DAG from its serialized form
            raise _dag_not_found(dag_id)
        try:
            keys = dag_views.check_fields(_names(fields), dag_views.DAG_DETAIL_FIELDS, "DAGDetailSchema")
        except BadRequest as error:
            raise _bad_fields(error, "DAGDetailSchema init error") from None
        data, last_updated = serialized
        failing = row.fileloc in dag_views.import_error_files(session, [row.fileloc])
        shown = dag_views.dag_detail_json(row, data, last_updated, has_import_errors=failing, token_of=_token_of)
    return json_response(dag_views.select_fields(shown, keys))


def _paused_value(body: Any, update_mask: list[str] | None) -> bool:
    """Airflow's order: the body as a DAG (only known fields), then the mask, then `is_paused` itself."""
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    read_only = [name for name in body if name in dag_views.DAG_FIELDS and name != "is_paused"]
    if read_only:  # Connexion 2's check of the DAG schema, which Airflow answers with
        raise bad_request(f"Property is read-only - '{read_only[0]}'")
    unknown = sorted(set(body) - set(dag_views.DAG_FIELDS))
    if unknown:
        raise bad_request(str({name: ["Unknown field."] for name in unknown}))
    if update_mask and _names(update_mask) != ["is_paused"]:
        raise bad_request(_ONLY_IS_PAUSED)
    if "is_paused" not in body:
        raise bad_request("{'is_paused': ['Missing data for required field.']}")
    if not isinstance(body["is_paused"], bool):
        raise bad_request("{'is_paused': ['Not a valid boolean.']}")
    return body["is_paused"]


def _set_paused(session, dag_ids: list[str], paused: bool, who: dict[str, Any]) -> None:
    """The experimental API's pause service and audit entry, DAG by DAG."""
    for dag_id in dag_ids:
        pausing.set_paused(session, dag_id, paused)
        audit.record(session, audit.DAG_PAUSE if paused else audit.DAG_UNPAUSE, dag_id=dag_id, **who)


@action_logging("patch_dag")
async def patch_dag(dag_id: str, body: Any = None, update_mask: list[str] | None = None):
    paused = _paused_value(body, update_mask)
    who = actor()
    token_of = _tokens_for_writer()

    def change(session):
        row = session.get(DagModel, dag_id)
        if row is None:
            raise _patch_not_found(dag_id)
        _set_paused(session, [dag_id], paused, who)
        (shown,) = dag_views.dags_json(session, [row], token_of=token_of)
        return shown

    return json_response(await group_committed(change))


@action_logging("patch_dags")
async def patch_dags(
    dag_id_pattern: str,
    body: Any = None,
    limit: int | None = None,
    offset: int = 0,
    tags: list[str] | None = None,
    update_mask: list[str] | None = None,
    only_active: bool = True,
):
    limit = page_limit(limit)
    paused = _paused_value(body, update_mask)
    pattern = "%" if dag_id_pattern == "~" else dag_id_pattern
    where = dag_views.DagFilter(only_active=only_active, dag_id_pattern=pattern, tags=tuple(_names(tags)))
    who = actor()
    token_of = _tokens_for_writer()

    def change(session):
        rows, total = dag_views.find_dags(session, where, limit=limit, offset=page_offset(offset))
        _set_paused(session, [row.dag_id for row in rows], paused, who)
        return {"dags": dag_views.dags_json(session, rows, token_of=token_of), "total_entries": total}

    return json_response(await group_committed(change))


@action_logging("delete_dag")
async def delete_dag(dag_id: str):
    who = actor()

    def delete(session):
        count = dag_deletion.delete_dag(session, dag_id)
        audit.record(session, audit.DAG_DELETE, dag_id=dag_id, extra={"count": count}, **who)

    try:
        await group_committed(delete)
    except NotFound:
        raise _patch_not_found(dag_id) from None
    except Conflict:
        raise already_exists(f"Task instances of dag with id: '{dag_id}' are still running") from None
    return Response(status_code=204)


# -- tasks -----------------------------------------------------------------------------------------


def _serialized_or_404(session, dag_id: str) -> dict[str, Any]:
    try:
        return get_serialized_dag(session, dag_id)
    except NotFound:
        raise not_found("DAG not found") from None


@database_read
def get_tasks(dag_id: str, order_by: str | None = None):
    with reading() as session:
        dag = _serialized_or_404(session, dag_id)
    try:
        tasks = dag_views.tasks_json(dag, order_by)
    except BadRequest as error:
        raise bad_request(error.message) from None
    return json_response({"tasks": tasks, "total_entries": len(tasks)})


@database_read
def get_task(dag_id: str, task_id: str):
    with reading() as session:
        dag = _serialized_or_404(session, dag_id)
    task = dag["tasks"].get(task_id)
    if task is None:
        raise not_found("Task not found")
    return json_response(dag_views.task_json(dag, task))


# -- sources, statistics, warnings, reparsing --------------------------------------------------------

_SOURCE_TYPES = ("text/plain", "application/json")


def _accept_quality(accept: str) -> list[tuple[str, float]]:
    entries = []
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        if not media:
            continue
        quality = 1.0
        for piece in pieces[1:]:
            name, _, value = piece.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        entries.append((media, quality))
    return entries


def best_source_type(accept: str | None) -> str | None:
    """Werkzeug's best_match over (text/plain, application/json), which Airflow uses: the highest
    quality wins, then the more specific pattern, then text/plain; no Accept header matches nothing."""
    best, best_quality, best_specificity = None, -1.0, (-1,)
    for offered in _SOURCE_TYPES:
        for pattern, quality in _accept_quality(accept or ""):
            specificity = tuple(int(part != "*") for part in pattern.split("/", 1))
            if quality <= 0 or quality < best_quality:
                continue
            if quality > best_quality or specificity > best_specificity:
                kind, _, sub = pattern.partition("/")
                offered_kind, _, offered_sub = offered.partition("/")
                if kind in ("*", offered_kind) and sub in ("*", "", offered_sub):
                    best, best_quality, best_specificity = offered, quality, specificity
    return best


@database_read
def get_dag_source(file_token: str):
    from connexion.context import request

    path = fileloc_of(current_settings(), file_token)
    if path is None:
        raise not_found("Dag source not found")
    with reading() as session:
        source = dag_code.get_file_source(session, path)
    if source is None:
        raise not_found("Dag source not found")
    chosen = best_source_type(request.headers.get("accept"))
    if chosen == "text/plain":
        return Response(source, media_type="text/plain")
    if chosen == "application/json":
        return Response(orjson.dumps({"content": source}), media_type="application/json")
    return Response("Not Allowed Accept Header", status_code=406, media_type="text/html")


@database_read
def get_dag_stats(dag_ids: str):
    with reading() as session:
        stats = dags.dag_stats(session, matchable_only(dag_ids.split(",")))
    return json_response({"dags": stats, "total_entries": len(stats)})


@database_read
def get_dag_warnings(
    dag_id: str | None = None,
    warning_type: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    order_by: str | None = None,
):
    limit = page_limit(limit)
    column, descending = ordering(order_by, dag_warnings.SORTABLE, "timestamp")
    with reading() as session:
        rows, total = dag_warnings.list_warnings(
            session,
            dag_id=dag_id,
            warning_type=warning_type,
            order_column=column,
            descending=descending,
            limit=limit,
            offset=page_offset(offset),
        )
        shown = [dag_warnings.warning_json(row) for row in rows]
    return json_response({"dag_warnings": shown, "total_entries": total})


async def reparse_dag_file(file_token: str):
    path = fileloc_of(current_settings(), file_token)
    if path is None:
        raise not_found("File not found")

    def request_parse(session):
        if not reparse.dags_of_file(session, path):
            raise not_found("File not found")
        return reparse.request_reparse(session, path, utcnow())

    created = await group_committed(request_parse)
    return Response("" if created else "Duplicate request", status_code=201, media_type="text/html")

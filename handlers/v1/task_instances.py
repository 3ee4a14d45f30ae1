"""Task instances (/api/v1): lists, one instance, its tries, note, dependencies; clearing and marking.

Bodies are checked here the way Airflow's marshmallow forms check them (unknown fields, required
fields, dates), with its messages; the spec checks types and enums first, as Connexion does in Airflow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from handlers._dispatch import database_read
from handlers._responses import json_body_response, json_response
from handlers._unit_of_work import group_committed, reading
from handlers.v1._action_logging import action_logging
from handlers.v1._dates import in_utc, utc_datetime
from handlers.v1._pagination import page_limit
from slipstream.api.v1_problems import V1Problem, bad_request
from slipstream.dates import utcnow
from slipstream.errors import NotFound
from slipstream.services import clearing, run_task_instances, task_instance_lists, task_views
from slipstream.services.external_markers import MarkerError
from slipstream.services.serialized import get_serialized_dag
from slipstream.services.task_views import TaskInstanceFilters, parse_ti_states
from slipstream.storage.models import DagRun, TaskInstance

NOT_FOUND_ROUTE = (
    "The requested URL was not found on the server. If you entered the URL manually please check your "
    "spelling and try again."
)


def _no_route() -> V1Problem:
    """What Airflow's Flask answers for a negative number where its routes take an unsigned integer."""
    return V1Problem(404, NOT_FOUND_ROUTE, title="Not Found", type_="about:blank")


# Integer columns hold no more; a larger index or try names nothing (and must not reach the database).
INT_MAX = 2**31 - 1


def _route_index(value: int) -> int:
    if value < 0 or value > INT_MAX:
        raise _no_route()
    return value


def _offset(value: int | None) -> int:
    """An offset past any table (and past what SQLite binds) is simply past the end."""
    return min(value or 0, 2**62)


def _form_errors(errors: dict[str, list[str]]) -> V1Problem:
    """marshmallow's ValidationError, as Airflow words it: the repr of the messages."""
    return bad_request(str(errors))


def _check_fields(body: dict[str, Any], known: tuple[str, ...], required: tuple[str, ...] = ()) -> None:
    errors: dict[str, list[str]] = {}
    for name in known:
        if name in required and name not in body:
            errors[name] = ["Missing data for required field."]
    for name in body:
        if name not in known:
            errors[name] = ["Unknown field."]
    if errors:
        raise _form_errors(errors)


def _filters(**query: Any) -> TaskInstanceFilters:
    return TaskInstanceFilters(
        execution_date_gte=utc_datetime(query.get("execution_date_gte")),
        execution_date_lte=utc_datetime(query.get("execution_date_lte")),
        start_date_gte=utc_datetime(query.get("start_date_gte")),
        start_date_lte=utc_datetime(query.get("start_date_lte")),
        end_date_gte=utc_datetime(query.get("end_date_gte")),
        end_date_lte=utc_datetime(query.get("end_date_lte")),
        updated_at_gte=utc_datetime(query.get("updated_at_gte")),
        updated_at_lte=utc_datetime(query.get("updated_at_lte")),
        duration_gte=query.get("duration_gte"),
        duration_lte=query.get("duration_lte"),
        states=parse_ti_states(query.get("state")),
        pools=query.get("pool") or None,
        queues=query.get("queue") or None,
        executors=query.get("executor") or None,
    )


def _collection(items: list[dict[str, Any]], total: int):
    return json_response({"task_instances": items, "total_entries": total})


def _reference(ti: TaskInstance, execution_date: datetime) -> dict[str, Any]:
    return {
        "dag_id": ti.dag_id,
        "dag_run_id": ti.run_id,
        "execution_date": execution_date.isoformat(),
        "task_id": ti.task_id,
    }


# -- reading -------------------------------------------------------------------------------------------


@database_read
def get_task_instances(dag_id: str, dag_run_id: str, limit: int | None = None, offset: int | None = None, **query):
    filters = _filters(**query)
    if dag_id != "~":
        filters.dag_ids = [dag_id]
    if dag_run_id != "~":
        filters.run_ids = [dag_run_id]
    with reading() as session:
        body = task_instance_lists.list_task_instances_json(
            session, filters, limit=page_limit(limit), offset=_offset(offset)
        )
    return json_body_response(body)


_BATCH_FIELDS = (
    "page_offset",
    "page_limit",
    "dag_ids",
    "dag_run_ids",
    "task_ids",
    "execution_date_gte",
    "execution_date_lte",
    "start_date_gte",
    "start_date_lte",
    "end_date_gte",
    "end_date_lte",
    "duration_gte",
    "duration_lte",
    "state",
    "pool",
    "queue",
    "executor",
)


@database_read
def get_task_instances_batch(body: dict[str, Any]):
    _check_fields(body, _BATCH_FIELDS)
    filters = _filters(**{k: v for k, v in body.items() if not k.startswith("page_") and not k.endswith("_ids")})
    filters.dag_ids = body.get("dag_ids")
    filters.run_ids = body.get("dag_run_ids")
    filters.task_ids = body.get("task_ids")
    with reading() as session:
        shown = task_instance_lists.list_task_instances_json(
            session,
            filters,
            limit=min(body.get("page_limit", 100), 2**62),
            offset=_offset(body.get("page_offset")),
        )
    return json_body_response(shown)


@database_read
def get_task_instance(dag_id: str, dag_run_id: str, task_id: str):
    with reading() as session:
        return json_response(task_views.get_v1_task_instance(session, dag_id, dag_run_id, task_id))


@database_read
def get_mapped_task_instance(dag_id: str, dag_run_id: str, task_id: str, map_index: int):
    map_index = _route_index(map_index)
    with reading() as session:
        return json_response(task_views.get_v1_task_instance(session, dag_id, dag_run_id, task_id, map_index))


@database_read
def get_mapped_task_instances(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    limit: int | None = None,
    offset: int | None = None,
    order_by: str | None = None,
    **query,
):
    filters = _filters(**query)
    with reading() as session:
        items, total = task_views.list_mapped_task_instances(
            session,
            dag_id,
            dag_run_id,
            task_id,
            filters,
            order_by=order_by,
            limit=page_limit(limit),
            offset=_offset(offset),
        )
    return _collection(items, total)


@database_read
def get_task_instance_tries(dag_id: str, dag_run_id: str, task_id: str, map_index: int = -1):
    with reading() as session:
        tries = task_views.list_tries(session, dag_id, dag_run_id, task_id, map_index)
    return _collection(tries, len(tries))


async def get_mapped_task_instance_tries(dag_id: str, dag_run_id: str, task_id: str, map_index: int):
    return await get_task_instance_tries(dag_id, dag_run_id, task_id, _route_index(map_index))


@database_read
def get_task_instance_try_details(
    dag_id: str, dag_run_id: str, task_id: str, task_try_number: int, map_index: int = -1
):
    _route_index(task_try_number)
    with reading() as session:
        return json_response(task_views.get_try(session, dag_id, dag_run_id, task_id, task_try_number, map_index))


async def get_mapped_task_instance_try_details(
    dag_id: str, dag_run_id: str, task_id: str, map_index: int, task_try_number: int
):
    return await get_task_instance_try_details(dag_id, dag_run_id, task_id, task_try_number, _route_index(map_index))


@database_read
def get_task_instance_dependencies(dag_id: str, dag_run_id: str, task_id: str, map_index: int = -1):
    with reading() as session:
        ti = task_views.find_for_note(session, dag_id, dag_run_id, task_id, map_index)
        return json_response({"dependencies": task_views.failed_dependencies(session, ti)})


async def get_mapped_task_instance_dependencies(dag_id: str, dag_run_id: str, task_id: str, map_index: int):
    return await get_task_instance_dependencies(dag_id, dag_run_id, task_id, _route_index(map_index))


# -- notes ---------------------------------------------------------------------------------------------


@action_logging("set_task_instance_note")
async def set_task_instance_note(dag_id: str, dag_run_id: str, task_id: str, body: dict[str, Any], map_index: int = -1):
    _check_fields(body, ("map_index", "note"))
    note = body.get("note")
    if note is not None and len(note) > 1000:
        raise _form_errors({"note": ["Longer than maximum length 1000."]})

    def set_note(session):
        ti = task_views.find_for_note(session, dag_id, dag_run_id, task_id, map_index)
        _ti, execution_date = _find_exact(session, dag_id, dag_run_id, task_id, map_index)
        run_task_instances.set_task_instance_note(session, ti.id, note)
        names = task_views.display_names(session, [dag_id])
        shown = task_views.v1_task_instance(session, ti, execution_date, names[dag_id].get(task_id))
        return {**shown, "note": note}

    return json_response(await group_committed(set_note))


async def set_mapped_task_instance_note(
    dag_id: str, dag_run_id: str, task_id: str, map_index: int, body: dict[str, Any]
):
    return await set_task_instance_note(dag_id, dag_run_id, task_id, body, _route_index(map_index))


# -- changing states -----------------------------------------------------------------------------------


def _dag_tasks(session, dag_id: str) -> dict[str, Any] | None:
    try:
        return get_serialized_dag(session, dag_id)["tasks"]
    except NotFound:
        return None


def _resume_downstream(
    session, dag_id: str, tasks: dict[str, Any], task_id: str, run_ids: list[str], now, *, marked: set[int]
) -> None:
    """Airflow's set_task_instance_state, once committed: failed and upstream_failed instances downstream
    of the task (in the runs concerned, but for those just marked) are cleared, so that they run again."""
    downstream = [t for t in clearing.clear_subset(tasks, [task_id], upstream=False, downstream=True) if t != task_id]
    if not downstream or not run_ids:
        return
    rows = session.scalars(
        select(TaskInstance).where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id.in_(run_ids),
            TaskInstance.task_id.in_(downstream),
            TaskInstance.state.in_(["failed", "upstream_failed"]),
        )
    ).all()
    resumed = [ti for ti in rows if ti.id not in marked]
    clearing.clear_task_instances(session, resumed, tasks, reset_dag_runs=True, now=now)


@action_logging("patch_task_instance")
async def patch_task_instance(dag_id: str, dag_run_id: str, task_id: str, body: dict[str, Any], map_index: int = -1):
    _check_fields(body, ("dry_run", "new_state"), required=("new_state",))
    dry_run = body.get("dry_run", True)
    new_state = body["new_state"]

    def patch(session):
        tasks = _dag_tasks(session, dag_id)
        if tasks is None:
            raise V1Problem(404, f"DAG {dag_id!r} not found", title="DAG not found")
        if task_id not in tasks:
            raise V1Problem(404, f"Task {task_id!r} not found in DAG {dag_id!r}", title="Task not found")
        found = _find_exact(session, dag_id, dag_run_id, task_id, map_index)
        if found is None:
            raise V1Problem(404, f"Task instance not found for task {task_id!r} on DAG run with ID {dag_run_id!r}")
        ti, execution_date = found
        if dry_run:
            return _reference(ti, execution_date)
        now = utcnow()
        rows = run_task_instances.select_to_mark(
            session, dag_id, [task_id], [dag_run_id], new_state, map_indexes=[map_index]
        )
        to_mark = [row for row, _when in rows]
        run_task_instances.mark_task_instances(session, to_mark, new_state, now=now)
        _resume_downstream(session, dag_id, tasks, task_id, [dag_run_id], now, marked={t.id for t in to_mark})
        return {}  # Airflow 2.10.5 dumps its list of changed instances through a one-object schema

    return json_response(await group_committed(patch))


async def patch_mapped_task_instance(dag_id: str, dag_run_id: str, task_id: str, map_index: int, body: dict[str, Any]):
    return await patch_task_instance(dag_id, dag_run_id, task_id, body, _route_index(map_index))


def _find_exact(session, dag_id: str, run_id: str, task_id: str, map_index: int):
    return session.execute(
        select(TaskInstance, DagRun.execution_date)
        .join(DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id))
        .where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id == run_id,
            TaskInstance.task_id == task_id,
            TaskInstance.map_index == map_index,
        )
    ).first()


_CLEAR_FIELDS = (
    "dry_run",
    "start_date",
    "end_date",
    "only_failed",
    "only_running",
    "include_subdags",
    "include_parentdag",
    "reset_dag_runs",
    "task_ids",
    "dag_run_id",
    "include_upstream",
    "include_downstream",
    "include_future",
    "include_past",
)


def _form_datetime(body: dict[str, Any], name: str) -> datetime | None:
    """A `format: datetime` field, which Connexion does not check: marshmallow's DateTime, then
    Airflow's validate_istimezone."""
    raw = body.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        raise _form_errors({name: ["Not a valid datetime."]}) from None
    if value.tzinfo is None:
        raise V1Problem(400, "Naive datetime is disallowed", title="Invalid datetime format")
    return in_utc(value, raw)


def _clear_request(body: dict[str, Any]) -> tuple[clearing.ClearRequest, bool, bool]:
    _check_fields(body, _CLEAR_FIELDS)
    start, end = _form_datetime(body, "start_date"), _form_datetime(body, "end_date")
    only_failed, only_running = body.get("only_failed", True), body.get("only_running", False)
    run_id = body.get("dag_run_id")
    problem = None
    if only_failed and only_running:
        problem = "only_failed and only_running both are set to True"
    elif start and end and start > end:
        problem = "end_date is sooner than start_date"
    elif start and end and run_id:
        problem = "Exactly one of dag_run_id or (start_date and end_date) must be provided"
    elif start and run_id:
        problem = "Exactly one of dag_run_id or start_date must be provided"
    elif end and run_id:
        problem = "Exactly one of dag_run_id or end_date must be provided"
    if problem:
        raise _form_errors({"_schema": [problem]})
    request = clearing.ClearRequest(
        task_ids=body.get("task_ids"),
        include_upstream=body.get("include_upstream", False),
        include_downstream=body.get("include_downstream", False),
        run_id=run_id,
        start_date=start,
        end_date=end,
        include_past=body.get("include_past", False),
        include_future=body.get("include_future", False),
        only_failed=only_failed,
        only_running=only_running,
        include_subdags=bool(body.get("include_subdags", False)),
    )
    return request, body.get("dry_run", True), bool(body.get("reset_dag_runs", False))


@action_logging("post_clear_task_instances")
async def post_clear_task_instances(dag_id: str, body: dict[str, Any]):
    request, dry_run, reset_dag_runs = _clear_request(body)

    def clear(session):
        tasks = _dag_tasks(session, dag_id)
        if tasks is None:
            raise V1Problem(404, title=f"Dag id {dag_id} not found")
        if request.run_id is not None:
            when = session.scalar(
                select(DagRun.execution_date).where(DagRun.dag_id == dag_id, DagRun.run_id == request.run_id)
            )
            if when is None:
                raise V1Problem(404, title=f"Dag Run id {request.run_id} not found in dag {dag_id}")
            request.start_date = request.end_date = when
        try:
            rows = clearing.select_clearable(session, dag_id, tasks, request)
        except MarkerError as error:
            raise bad_request(str(error)) from None
        references = [_reference(ti, when) for ti, when in rows]
        if not dry_run:
            clearing.clear_selected(session, dag_id, tasks, [ti for ti, _ in rows], reset_dag_runs=reset_dag_runs)
        return {"task_instances": references}

    if dry_run:
        with reading() as session:
            return json_response(clear(session))
    return json_response(await group_committed(clear))


_SET_STATE_FIELDS = (
    "dry_run",
    "task_id",
    "execution_date",
    "dag_run_id",
    "include_upstream",
    "include_downstream",
    "include_future",
    "include_past",
    "new_state",
)
_SET_STATE_REQUIRED = (
    "task_id",
    "include_upstream",
    "include_downstream",
    "include_future",
    "include_past",
    "new_state",
)


@action_logging("post_set_task_instances_state")
async def post_set_task_instances_state(dag_id: str, body: dict[str, Any]):
    _check_fields(body, _SET_STATE_FIELDS, required=_SET_STATE_REQUIRED)
    execution_date = utc_datetime(body.get("execution_date"))
    run_id = body.get("dag_run_id")
    if (execution_date is None) == (run_id is None):
        raise _form_errors({"_schema": ["Exactly one of execution_date or dag_run_id must be provided"]})
    task_id, new_state, dry_run = body["task_id"], body["new_state"], body.get("dry_run", True)

    def set_state(session):
        tasks = _dag_tasks(session, dag_id)
        if tasks is None:
            raise V1Problem(404, title=f"Dag ID {dag_id} not found")
        if task_id not in tasks:
            raise V1Problem(404, title=f"Task ID {task_id} not found")
        the_run_id = run_id
        if execution_date is not None:
            the_run_id = session.scalar(
                select(TaskInstance.run_id)
                .join(DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id))
                .where(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.task_id == task_id,
                    DagRun.execution_date == execution_date,
                )
                .limit(1)
            )
            if the_run_id is None:
                raise V1Problem(404, f"Task instance not found for task {task_id!r} on execution_date {execution_date}")
        elif _find_exact(session, dag_id, run_id, task_id, -1) is None:
            raise V1Problem(404, f"Task instance not found for task {task_id!r} on DAG run with ID {run_id!r}")
        run_ids = run_task_instances.run_ids_around(
            session, dag_id, the_run_id, past=body["include_past"], future=body["include_future"]
        )
        task_ids = clearing.task_relatives(
            tasks, [task_id], upstream=body["include_upstream"], downstream=body["include_downstream"]
        )
        rows = run_task_instances.select_to_mark(session, dag_id, task_ids, run_ids, new_state)
        references = [_reference(ti, when) for ti, when in rows]
        if not dry_run:
            now = utcnow()
            marked = [ti for ti, _ in rows]
            run_task_instances.mark_task_instances(session, marked, new_state, now=now)
            _resume_downstream(session, dag_id, tasks, task_id, run_ids, now, marked={ti.id for ti in marked})
        return {"task_instances": references}

    if dry_run:
        with reading() as session:
            return json_response(set_state(session))
    return json_response(await group_committed(set_state))

"""The stable API's task-instance lists (GET .../dagRuns/{id}/taskInstances and POST .../taskInstances/list)
as JSON, read and rendered cheaply.

One prepared statement per shape of filters reads the columns the schema shows, with the run's
logical date and the instance's trigger and triggerer job joined in (rather than two lookups per
deferred instance); the display names come from the serialized DAGs, read once per hash. Items are rendered by
task_views.v1_task_instance_json, the single instance's renderer, and cached by the stored values
they are made of (slipstream.storage.raw_rows), so a polled list renders only what changed.

total_entries counts task_instance rows alone unless a filter needs the run (the logical-date
bounds): every task instance belongs to a stored run (runs are deleted with their instances, and
instances are created with their run), so the join would count the same rows, at the cost of
visiting all of them; alone, the count is one pass over an index (SQLite counts a whole table
from its b-tree without visiting rows).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import orjson
from sqlalchemy import bindparam, false, func, or_, select
from sqlalchemy.orm import Session

from slipstream.services.filter_shapes import add_list, add_ranges, in_list, range_condition
from slipstream.services.serialized import serialized_dags_by_hash, serialized_hash
from slipstream.services.task_views import (
    TaskInstanceFilters,
    job_json,
    task_display_names,
    trigger_json,
    v1_task_instance_json,
)
from slipstream.storage.models import DagRun, Job, TaskInstance, Trigger
from slipstream.storage.prepared import Prepared
from slipstream.storage.raw_rows import (
    PreparedShapes,
    RenderedRows,
    RowReader,
    fetch_all,
    json_list,
    json_text,
    sqlite_fingerprint,
)

_JSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS

_TI = RowReader(
    (
        TaskInstance.dag_id,
        TaskInstance.run_id,
        TaskInstance.task_id,
        TaskInstance.map_index,
        TaskInstance.duration,
        TaskInstance.end_date,
        TaskInstance.executor,
        json_text(TaskInstance.executor_config),
        TaskInstance.hostname,
        TaskInstance.max_tries,
        TaskInstance.operator,
        TaskInstance.pid,
        TaskInstance.pool,
        TaskInstance.pool_slots,
        TaskInstance.priority_weight,
        TaskInstance.queue,
        TaskInstance.queued_dttm,
        TaskInstance.start_date,
        TaskInstance.state,
        TaskInstance.try_number,
        TaskInstance.unixname,
        TaskInstance.note,
        json_text(TaskInstance.rendered_fields),
        TaskInstance.rendered_map_index,
        TaskInstance.trigger_id,
    )
)
_RUN_DATE = RowReader((DagRun.execution_date.label("execution_date"),))
_TRIGGER = RowReader(
    (
        Trigger.id.label("id"),
        Trigger.classpath.label("classpath"),
        Trigger.created_date.label("created_date"),
        Trigger.triggerer_id.label("triggerer_id"),
    )
)
_JOB = RowReader(
    (
        Job.id.label("id"),
        Job.state.label("state"),
        Job.job_type.label("job_type"),
        Job.start_date.label("start_date"),
        Job.end_date.label("end_date"),
        Job.latest_heartbeat.label("latest_heartbeat"),
        Job.hostname.label("hostname"),
    )
)
_DATE_AT = len(_TI)  # after the instance's columns, the run's logical date
_TRIGGER_ID_AT = _TI.columns.index(TaskInstance.trigger_id)
_JOB_AT = len(_TRIGGER)
# A deferred instance's trigger and the triggerer running it: few instances have one, so they are read
# apart (once per trigger on the page) rather than joined into every row.
_TRIGGER_AND_JOB = Prepared(
    select(*_TRIGGER.columns, *_JOB.columns)
    .outerjoin(Job, Job.id == Trigger.triggerer_id)
    .where(Trigger.id == bindparam("trigger_id"))
)

# Filters in a fixed order: (shape entry, parameter) for each bound; lists by name and length.
_RANGES = (
    ("execution_date", DagRun.execution_date),
    ("start_date", TaskInstance.start_date),
    ("end_date", TaskInstance.end_date),
    ("updated_at", TaskInstance.updated_at),
    ("duration", TaskInstance.duration),
)
_RANGE_COLUMNS = {name: column for name, column in _RANGES}
_LISTS = (
    ("pools", TaskInstance.pool),
    ("queues", TaskInstance.queue),
    ("executors", TaskInstance.executor),
    ("dag_ids", TaskInstance.dag_id),
    ("run_ids", TaskInstance.run_id),
    ("task_ids", TaskInstance.task_id),
)
_LIST_COLUMNS = dict(_LISTS)


def _shape_of(filters: TaskInstanceFilters) -> tuple[tuple, dict[str, Any]]:
    """The filters' shape (what a statement depends on) and the values to bind."""
    shape: list[Any] = []
    values: dict[str, Any] = {}
    add_ranges(filters, _RANGE_COLUMNS, shape, values)
    if filters.states is not None:
        named = [state for state in filters.states if state is not None]
        shape.append(("states", len(named), None in filters.states))
        values.update({f"states_{i}": state for i, state in enumerate(named)})
    for name, _column in _LISTS:
        listed = getattr(filters, name)
        if listed is not None:
            add_list(name, listed, shape, values)
    return tuple(shape), values


def _conditions(shape: tuple) -> list[Any]:
    """TaskInstanceFilters.conditions() with a bound parameter for each value."""
    found: list[Any] = []
    for entry in shape:
        name = entry[0]
        if name in _RANGE_COLUMNS:
            found.append(range_condition(_RANGE_COLUMNS[name], name, entry[1]))
        elif name == "states":
            _, count, with_none = entry
            either = [TaskInstance.state.in_([bindparam(f"states_{i}") for i in range(count)])] if count else []
            if with_none:
                either.append(TaskInstance.state.is_(None))
            found.append(or_(*either) if either else false())
        else:
            found.append(in_list(_LIST_COLUMNS[name], name, entry[1]))
    return found


def _of_run():
    return (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id)


# What a page reads: the values (PostgreSQL), or on SQLite first only each row's fingerprint (all its values
# as one text, made by SQLite: reading 26 values into Python costs more than the rest of a cached page),
# then, when some item is not rendered yet, the values with the fingerprint.
_VALUES = (*_TI.columns, *_RUN_DATE.columns)
_DURATION_AT = _TI.columns.index(TaskInstance.duration)
_FINGERPRINT = sqlite_fingerprint([column for column in _VALUES if column is not TaskInstance.duration])
_PAGE_COLUMNS = {
    "values": _VALUES,
    "fingerprints": (TaskInstance.dag_id, TaskInstance.trigger_id, TaskInstance.duration, _FINGERPRINT),
    "values and fingerprints": (*_VALUES, _FINGERPRINT),
}


def _page_statement(key: tuple):
    shape, reading = key
    query = select(*_PAGE_COLUMNS[reading]).join(DagRun, _of_run())
    page = bindparam("page_limit"), bindparam("page_offset")
    if _needs_run(shape):
        return query.where(*_conditions(shape)).order_by(TaskInstance.id).limit(page[0]).offset(page[1])
    # The page's instances chosen on task_instance alone (as the count counts them), then joined to their
    # runs: joined first, PostgreSQL hashes every instance with every run and sorts them all for a page.
    ids = select(TaskInstance.id).where(*_conditions(shape)).order_by(TaskInstance.id).limit(page[0]).offset(page[1])
    return query.where(TaskInstance.id.in_(ids.scalar_subquery())).order_by(TaskInstance.id)


def _needs_run(shape: tuple) -> bool:
    """Whether a filter is on the run (its logical date), so the run must be joined to filter."""
    return any(entry[0] == "execution_date" for entry in shape)


def _count_statement(shape: tuple):
    query = select(func.count()).select_from(TaskInstance)
    if _needs_run(shape):
        query = query.join(DagRun, _of_run())
    return query.where(*_conditions(shape))


_pages = PreparedShapes(_page_statement)
_counts = PreparedShapes(_count_statement)
_rendered = RenderedRows(max_entries=10_000)


def list_task_instances_json(session: Session, filters: TaskInstanceFilters, *, limit: int, offset: int) -> bytes:
    """A page of task instances and how many match, as the list's JSON, in the order they were created
    (as Airflow's unordered query returns them: a run's instances in the order of the DAG's tasks)."""
    shape, values = _shape_of(filters)
    total = fetch_all(_counts(shape), session, values)[0][0] or 0
    page = {**values, "page_limit": limit, "page_offset": offset}
    if session.get_bind().dialect.name != "sqlite":
        rows = fetch_all(_pages((shape, "values")), session, page)
        return json_list("task_instances", _fragments(session, rows, _TRIGGER_ID_AT, lambda row: row), total)
    rows = fetch_all(_pages((shape, "fingerprints")), session, page)
    cached = _fragments(session, rows, 1, lambda row: (row[2], row[3]), render=False)
    if None not in cached:
        return json_list("task_instances", cached, total)  # type: ignore[arg-type]
    rows = fetch_all(_pages((shape, "values and fingerprints")), session, page)
    fragments = _fragments(session, rows, _TRIGGER_ID_AT, lambda row: (row[_DURATION_AT], row[-1]))
    return json_list("task_instances", fragments, total)


def _fragments(
    session: Session, rows: list[tuple], trigger_id_at: int, identity: Callable[[tuple], Hashable], *, render=True
) -> list[bytes | None]:
    """Each row's item, by its key: the row's identity (its values, or their fingerprint), the DAG's hash and
    the trigger's values; rendered and kept when missing, unless `render` is false (then None)."""
    # The display names come from the serialized DAG: its hash is part of an item's key. One lookup per DAG
    # (a page is mostly one run's or one DAG's); joined per row, SQLite would read the DAG's data per row.
    hashes = {dag_id: serialized_hash(session, dag_id) for dag_id in {row[0] for row in rows}}
    triggers = {
        trigger_id: _TRIGGER_AND_JOB.first(session, {"trigger_id": trigger_id})
        for trigger_id in {row[trigger_id_at] for row in rows}
        if trigger_id is not None
    }
    rendered = _rendered
    fragments: list[bytes | None] = []
    names: dict[str, tuple[dict[str, str], bool]] = {}
    for row in rows:
        trigger = triggers.get(row[trigger_id_at])
        key = (hashes[row[0]], identity(row), trigger)
        fragment = rendered.get(key)
        if fragment is None and render:
            if row[0] not in names:
                names[row[0]] = _display_names(session, row[0], hashes[row[0]])
            fragment = _render(session, row, trigger, names[row[0]][0])
            if names[row[0]][1]:
                rendered.put(key, fragment)
        fragments.append(fragment)
    return fragments


def _display_names(session: Session, dag_id: str, dag_hash: str | None) -> tuple[dict[str, str], bool]:
    """display_names' answer for one DAG, from the serialized DAG of `dag_hash`; and whether it is that
    hash's (else the DAG changed since the hash was read: an item shown with it is not kept under it)."""
    if dag_hash is None:  # no DAG row or no serialized DAG: every name is the task ID
        return {}, True
    data, data_hash = serialized_dags_by_hash(session, {dag_id: dag_hash}).get(dag_id, ({"tasks": {}}, None))
    return task_display_names(data["tasks"]), data_hash == dag_hash


def _render(session: Session, row: tuple, trigger_row: tuple | None, names: dict[str, str]) -> bytes:
    dialect = session.get_bind().dialect
    ti = _TI.read(dialect, row)
    trigger = job = None
    if trigger_row is not None:  # else no trigger (any more): none shown, as session.get finds none
        trigger = _TRIGGER.read(dialect, trigger_row)
        if trigger_row[_JOB_AT] is not None:
            job = _JOB.read(dialect, trigger_row, _JOB_AT)
    shown = v1_task_instance_json(
        ti,
        _RUN_DATE.read(dialect, row, _DATE_AT).execution_date,
        names.get(ti.task_id),
        None if trigger is None else trigger_json(trigger),
        None if job is None else job_json(job),
    )
    return orjson.dumps(shown, option=_JSON_OPTIONS)

"""The stable API's run lists (GET /dags/{dag_id}/dagRuns and POST /dags/~/dagRuns/list) as JSON, read
and rendered cheaply: one prepared statement per shape of filters and ordering reads the columns the
DAGRun schema shows, and items are rendered by dag_run_records.run_json (one run's renderer) and cached
by the stored values they are made of (slipstream.storage.raw_rows), so a polled list renders only what
changed. The count runs on dag_run alone, through the (dag_id, ...) unique indexes for one DAG's runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from slipstream.services.dag_run_records import RunFilters, run_json
from slipstream.services.filter_shapes import add_list, add_ranges, in_list, range_condition
from slipstream.storage.models import DagRun
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

_RUN = RowReader(
    (
        json_text(DagRun.conf),
        DagRun.dag_id,
        DagRun.run_id,
        DagRun.data_interval_end,
        DagRun.data_interval_start,
        DagRun.end_date,
        DagRun.execution_date,
        DagRun.external_trigger,
        DagRun.last_scheduling_decision,
        DagRun.note,
        DagRun.run_type,
        DagRun.start_date,
        DagRun.state,
    )
)
_RANGES = (
    ("execution_date", DagRun.execution_date),
    ("start_date", DagRun.start_date),
    ("end_date", DagRun.end_date),
    ("updated_at", DagRun.updated_at),
)
_RANGE_COLUMNS = dict(_RANGES)


def _shape_of(filters: RunFilters) -> tuple[tuple, dict[str, Any]]:
    """The filters' shape (what a statement depends on) and the values to bind."""
    shape: list[Any] = []
    values: dict[str, Any] = {}
    if filters.dag_ids is not None:
        add_list("dag_ids", filters.dag_ids, shape, values)
    if filters.states:
        add_list("states", filters.states, shape, values)
    add_ranges(filters, _RANGE_COLUMNS, shape, values)
    return tuple(shape), values


def _conditions(shape: tuple) -> list[Any]:
    found: list[Any] = []
    for entry in shape:
        name = entry[0]
        if name == "dag_ids":
            found.append(in_list(DagRun.dag_id, name, entry[1]))
        elif name == "states":
            found.append(in_list(DagRun.state, name, entry[1]))
        else:
            found.append(range_condition(_RANGE_COLUMNS[name], name, entry[1]))
    return found


# What a page reads: the values (PostgreSQL, or when `fields` picks some), or on SQLite first only each
# row's fingerprint (its values as one text, made by SQLite: reading them into Python costs more than the
# rest of a cached page), then, when some item is not rendered yet, the values with the fingerprint.
_FINGERPRINT = sqlite_fingerprint(_RUN.columns)
_PAGE_COLUMNS = {
    "values": _RUN.columns,
    "fingerprints": (_FINGERPRINT,),
    "values and fingerprints": (*_RUN.columns, _FINGERPRINT),
}


def _page_statement(key: tuple):
    shape, order_column, descending, reading = key
    ordered = order_column.desc() if descending else order_column.asc()
    # The id breaks ties, so pages never overlap (Airflow leaves the order of equal keys to the database).
    tie = DagRun.id.desc() if descending else DagRun.id.asc()
    return (
        select(*_PAGE_COLUMNS[reading])
        .where(*_conditions(shape))
        .order_by(ordered, tie)
        .limit(bindparam("page_limit"))
        .offset(bindparam("page_offset"))
    )


def _count_statement(shape: tuple):
    return select(func.count()).select_from(DagRun).where(*_conditions(shape))


_pages = PreparedShapes(_page_statement)
_counts = PreparedShapes(_count_statement)
_rendered = RenderedRows(max_entries=20_000)


def list_runs_json(
    session: Session,
    filters: RunFilters,
    *,
    order_column: Any,
    descending: bool,
    offset: int,
    limit: int,
    fields: Sequence[str] | None = None,
) -> bytes:
    """The page of runs matching `filters` and how many match in all, as the list's JSON; with `fields`,
    each run shows only those fields, in that order."""
    shape, values = _shape_of(filters)
    total = fetch_all(_counts(shape), session, values)[0][0] or 0
    page = {**values, "page_limit": limit, "page_offset": offset}
    dialect = session.get_bind().dialect
    if fields is not None:
        rows = fetch_all(_pages((shape, order_column, descending, "values")), session, page)
        shown = [run_json(_RUN.read(dialect, row)) for row in rows]
        fragments = [orjson.dumps({name: run[name] for name in fields}, option=_JSON_OPTIONS) for run in shown]
        return json_list("dag_runs", fragments, total)
    rendered = _rendered
    if dialect.name != "sqlite":
        rows = fetch_all(_pages((shape, order_column, descending, "values")), session, page)
        fragments = [rendered.get(row) or rendered.put(row, _render(dialect, row)) for row in rows]
        return json_list("dag_runs", fragments, total)
    fingerprints = fetch_all(_pages((shape, order_column, descending, "fingerprints")), session, page)
    cached = [rendered.get(fingerprint) for (fingerprint,) in fingerprints]
    if None not in cached:
        return json_list("dag_runs", cached, total)  # type: ignore[arg-type]
    rows = fetch_all(_pages((shape, order_column, descending, "values and fingerprints")), session, page)
    fragments = [rendered.get(row[-1]) or rendered.put(row[-1], _render(dialect, row)) for row in rows]
    return json_list("dag_runs", fragments, total)


def _render(dialect, row: tuple) -> bytes:
    return orjson.dumps(run_json(_RUN.read(dialect, row)), option=_JSON_OPTIONS)

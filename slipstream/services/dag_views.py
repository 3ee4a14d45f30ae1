"""DAGs and tasks as the stable API (/api/v1) shows them: Airflow 2.10.5's DAG, DAGDetail and Task objects.

Built from the DagModel row (flags, next run) and the serialized DAG the dag processor stored (what
only parsing the file can know: owners, display names, the timetable's description, task classes).
Values Airflow keeps for features Slipstream does not have (SubDAGs, pickling) are their constants.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from slipstream.errors import BadRequest
from slipstream.services.serialized import get_serialized_dags, serialized_dags_by_hash
from slipstream.storage.db import json_loads
from slipstream.storage.models import DagModel, ImportErrorModel, SerializedDagModel
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
from slipstream.timetables import timetable_description

PARAM_CLASS = "airflow.models.param.Param"
_RELATIVEDELTA_RELATIVE = ("years", "months", "days", "leapdays", "hours", "minutes", "seconds", "microseconds")
_RELATIVEDELTA_ABSOLUTE = ("year", "month", "day", "hour", "minute", "second", "microsecond")

TokenOf = Callable[[str], str]
_JSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


class InvalidFields(BadRequest):
    """`fields` names something the object does not have: marshmallow's message, which Airflow returns."""

    def __init__(self, schema: str, invalid: list[str]):
        listed = ", ".join(repr(name) for name in invalid)
        super().__init__(f"Invalid fields for <{schema}(many=False)>: OrderedSet([{listed}]).")


# -- value forms ---------------------------------------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _iso_text(value: str | None) -> str | None:
    """A serialized ISO date rendered as Airflow renders dates (the same text: both are isoformat)."""
    return value if value else None


def time_delta(seconds: float | None) -> dict[str, Any] | None:
    if seconds is None:
        return None
    delta = timedelta(seconds=seconds)
    return {"__type": "TimeDelta", "days": delta.days, "seconds": delta.seconds, "microseconds": delta.microseconds}


def _relative_delta(encoded: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {"__type": "RelativeDelta"}
    shown.update({name: int(encoded.get(name) or 0) for name in _RELATIVEDELTA_RELATIVE})
    shown.update({name: encoded.get(name) for name in _RELATIVEDELTA_ABSOLUTE})
    return shown


def schedule_interval(schedule: dict[str, Any] | None) -> dict[str, Any] | None:
    """Airflow's DagModel.schedule_interval: a TimeDelta or RelativeDelta for delta schedules, null for
    none, and for everything else a CronExpression holding the cron as written or the timetable's summary."""
    if not schedule or schedule.get("type") == "none":
        return None
    if schedule.get("type") == "delta":
        if "relativedelta" in schedule:
            return _relative_delta(schedule["relativedelta"])
        return time_delta(float(schedule.get("seconds") or 0))
    expression = schedule.get("expression")
    return None if expression is None else {"__type": "CronExpression", "value": str(expression)}


def dataset_expression(schedule: dict[str, Any] | None) -> dict[str, Any] | None:
    """Airflow's `as_expression()` of the DAG's dataset condition: {"all"|"any": [uri or nested]},
    {"alias": name}. A single dataset (a bare URI, which Airflow fails to render) is shown as {"any": [uri]}."""
    condition = (schedule or {}).get("condition")
    if condition is None:
        return None
    rendered = _condition_expression(condition)
    return rendered if isinstance(rendered, dict) else {"any": [rendered]}


def _condition_expression(condition: dict[str, Any]) -> Any:
    if "uri" in condition:
        return condition["uri"]
    if "alias" in condition:
        return {"alias": condition["alias"]}
    for key in ("all", "any"):
        if key in condition:
            return {key: [_condition_expression(part) for part in condition[key]]}
    return None


def params_dump(params: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each Param as Airflow's Param.dump() shows it (no default: value null)."""
    return {
        name: {
            "__class": PARAM_CLASS,
            "description": param.get("description"),
            "schema": param.get("schema") or {},
            "value": param.get("default"),
        }
        for name, param in params.items()
    }


# -- DAGs ----------------------------------------------------------------------------------------------


def _dag_api(data: dict[str, Any] | None, dag_id: str) -> dict[str, Any]:
    """The serialized DAG's API view; defaults for DAGs serialized before it existed (or not at all)."""
    view = (data or {}).get("api") or {}
    schedule = (data or {}).get("schedule")
    return {
        "dag_display_name": view.get("dag_display_name", dag_id),
        "default_view": view.get("default_view", "grid"),
        "orientation": view.get("orientation", "LR"),
        "owners": view.get(
            "owners", ", ".join(sorted({t.get("owner", "") for t in (data or {}).get("tasks", {}).values()}))
        ),
        "timezone": view.get("timezone", "UTC"),
        "timetable_description": view.get(
            "timetable_description", timetable_description(schedule) if schedule else None
        ),
        "has_task_concurrency_limits": bool(view.get("has_task_concurrency_limits", False)),
        "max_consecutive_failed_dag_runs": int(view.get("max_consecutive_failed_dag_runs", 0)),
        "render_template_as_native_obj": bool(view.get("render_template_as_native_obj", False)),
        "template_searchpath": view.get("template_searchpath"),
    }


def _owners(joined: str) -> list[str]:
    # Airflow splits DagModel.owners (joined with ", ") on "," alone, so every owner after the first
    # keeps its leading space; an empty string is no owner at all.
    return joined.split(",") if joined else []


def dag_json(
    row: DagModel,
    data: dict[str, Any] | None,
    *,
    has_import_errors: bool,
    token_of: TokenOf,
    view: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A DAG as Airflow shows it; `view` is _dag_api(data, row.dag_id) when the caller has it already."""
    if view is None:
        view = _dag_api(data, row.dag_id)
    schedule = (data or {}).get("schedule")
    if schedule is None and row.schedule is not None:
        schedule = {"type": "cron", "expression": row.schedule}
    return {
        "dag_display_name": view["dag_display_name"],
        "dag_id": row.dag_id,
        "default_view": view["default_view"],
        "description": row.description,
        "file_token": token_of(row.fileloc),
        "fileloc": row.fileloc,
        "has_import_errors": has_import_errors,
        "has_task_concurrency_limits": view["has_task_concurrency_limits"],
        "is_active": bool(row.is_active),
        "is_paused": bool(row.is_paused),
        "is_subdag": False,
        "last_expired": None,
        "last_parsed_time": iso(row.last_parsed_time),
        "last_pickled": None,
        "max_active_runs": row.max_active_runs,
        "max_active_tasks": row.max_active_tasks,
        "max_consecutive_failed_dag_runs": view["max_consecutive_failed_dag_runs"],
        "next_dagrun": iso(row.next_dagrun),
        "next_dagrun_create_after": iso(row.next_dagrun_create_after),
        "next_dagrun_data_interval_end": iso(row.next_dagrun_data_interval_end),
        "next_dagrun_data_interval_start": iso(row.next_dagrun_data_interval_start),
        "owners": _owners(view["owners"]),
        "pickle_id": None,
        "root_dag_id": None,
        "schedule_interval": schedule_interval(schedule),
        "scheduler_lock": None,
        "tags": [{"name": str(tag)} for tag in (row.tags or [])],
        "timetable_description": view["timetable_description"],
    }


def dag_detail_json(
    row: DagModel,
    data: dict[str, Any],
    last_updated: datetime | None,
    *,
    has_import_errors: bool,
    token_of: TokenOf,
) -> dict[str, Any]:
    view = _dag_api(data, row.dag_id)
    detail = dag_json(row, data, has_import_errors=has_import_errors, token_of=token_of)
    detail.update(
        {
            "catchup": bool(data.get("catchup", True)),
            "concurrency": int(data.get("max_active_tasks", row.max_active_tasks)),
            "dag_run_timeout": time_delta(data.get("dagrun_timeout")),
            "dataset_expression": dataset_expression(data.get("schedule")),
            "doc_md": data.get("doc_md"),
            "end_date": _iso_text(data.get("end_date")),
            "is_paused_upon_creation": data.get("is_paused_upon_creation"),
            "last_parsed": iso(last_updated),
            "max_active_runs": int(data.get("max_active_runs", row.max_active_runs)),
            "max_active_tasks": int(data.get("max_active_tasks", row.max_active_tasks)),
            "orientation": view["orientation"],
            # Airflow reads `owner` from the DagModel row, which has `owners` instead: always empty here.
            "owners": [],
            "params": params_dump(data.get("params") or {}),
            "render_template_as_native_obj": view["render_template_as_native_obj"],
            "start_date": _iso_text(data.get("start_date")),
            "template_searchpath": view["template_searchpath"],
            "timezone": view["timezone"],
        }
    )
    return detail


# The names `fields` may use: marshmallow's field names, which for DAGDetail's last_parsed is last_loaded.
DAG_FIELDS = (
    "dag_display_name", "dag_id", "default_view", "description", "file_token", "fileloc", "has_import_errors",
    "has_task_concurrency_limits", "is_active", "is_paused", "is_subdag", "last_expired", "last_parsed_time",
    "last_pickled", "max_active_runs", "max_active_tasks", "max_consecutive_failed_dag_runs", "next_dagrun",
    "next_dagrun_create_after", "next_dagrun_data_interval_end", "next_dagrun_data_interval_start", "owners",
    "pickle_id", "root_dag_id", "schedule_interval", "scheduler_lock", "tags", "timetable_description",
)  # fmt: skip
DAG_DETAIL_FIELDS = (
    *DAG_FIELDS, "catchup", "concurrency", "dag_run_timeout", "dataset_expression", "doc_md", "end_date",
    "is_paused_upon_creation", "last_loaded", "orientation", "params", "render_template_as_native_obj",
    "start_date", "template_searchpath", "timezone",
)  # fmt: skip
_DATA_KEYS = {"last_loaded": "last_parsed"}


def check_fields(fields: list[str] | None, allowed: Iterable[str], schema: str) -> list[str] | None:
    """The keys `fields` selects (None: all), or InvalidFields naming the unknown ones in their order."""
    if not fields:
        return None
    known = set(allowed)
    invalid = list(dict.fromkeys(name for name in fields if name not in known))
    if invalid:
        raise InvalidFields(schema, invalid)
    return [_DATA_KEYS.get(name, name) for name in dict.fromkeys(fields)]


def select_fields(body: dict[str, Any], keys: list[str] | None) -> dict[str, Any]:
    return body if keys is None else {key: body[key] for key in keys if key in body}


def import_error_files(session: Session, filelocs: Iterable[str]) -> set[str]:
    """Which of these files failed their last import (Airflow's has_import_errors)."""
    wanted = sorted({f for f in filelocs if f})
    if not wanted:
        return set()
    return set(session.scalars(select(ImportErrorModel.filename).where(ImportErrorModel.filename.in_(wanted))))


@dataclass(frozen=True)
class DagFilter:
    only_active: bool = True
    paused: bool | None = None
    dag_id_pattern: str | None = None
    tags: tuple[str, ...] = ()


def _filtered(query, where: DagFilter):
    if where.only_active:
        query = query.where(DagModel.is_active.is_(True))
    if where.paused is not None:
        query = query.where(DagModel.is_paused.is_(where.paused))
    if where.dag_id_pattern:
        # Airflow's ilike('%pattern%'): % and _ keep their LIKE meaning.
        query = query.where(DagModel.dag_id.ilike(f"%{where.dag_id_pattern}%"))
    return query


def find_dags(
    session: Session, where: DagFilter, *, limit: int, offset: int, descending: bool = False
) -> tuple[list[DagModel], int]:
    """One page of DagModel rows matching `where`, by dag_id, and how many match in all."""
    order = DagModel.dag_id.desc() if descending else DagModel.dag_id
    if where.tags:
        # Tags are a JSON list per DAG: matched here rather than in SQL dialect by dialect (any tag: OR).
        wanted = set(where.tags)
        rows = session.execute(_filtered(select(DagModel.dag_id, DagModel.tags), where).order_by(order)).all()
        ids = [dag_id for dag_id, tags in rows if wanted.intersection(str(t) for t in (tags or []))]
        total = len(ids)
        page = ids[offset : offset + limit]
        models = {m.dag_id: m for m in session.scalars(select(DagModel).where(DagModel.dag_id.in_(page)))}
        return [models[dag_id] for dag_id in page if dag_id in models], total
    total = session.scalar(_filtered(select(func.count()).select_from(DagModel), where)) or 0
    models = list(session.scalars(_filtered(select(DagModel), where).order_by(order).offset(offset).limit(limit)))
    return models, total


def dags_json(session: Session, rows: list[DagModel], *, token_of: TokenOf) -> list[dict[str, Any]]:
    serialized = get_serialized_dags(session, [row.dag_id for row in rows])
    failing = import_error_files(session, (row.fileloc for row in rows))
    return [
        dag_json(
            row,
            serialized.get(row.dag_id, (None, None))[0],
            has_import_errors=row.fileloc in failing,
            token_of=token_of,
        )
        for row in rows
    ]


# The DAG list (GET /dags) read and rendered cheaply: one prepared statement per shape of filters reads the
# DAG's columns and whether its file failed to import, a second the page's serialized hashes, and items
# are rendered by dag_json (one DAG's renderer) and cached by the stored values they are made of (with the
# hash, whose data they show, and the key signing the file tokens).
_DAG_ROW = RowReader(
    (
        DagModel.dag_id,
        DagModel.is_paused,
        DagModel.is_active,
        DagModel.fileloc,
        DagModel.description,
        DagModel.schedule,
        DagModel.max_active_runs,
        DagModel.max_active_tasks,
        json_text(DagModel.tags),
        DagModel.last_parsed_time,
        DagModel.next_dagrun,
        DagModel.next_dagrun_create_after,
        DagModel.next_dagrun_data_interval_end,
        DagModel.next_dagrun_data_interval_start,
    )
)
_TAGS_AT = [column.key for column in _DAG_ROW.columns].index("tags")
_IMPORT_ERROR_AT = len(_DAG_ROW)
# A range, which SQLite serves from the covering (dag_id, dag_hash) index; for equality or IN it takes the
# primary key's and reads each DAG's data (overflow pages) to reach the hash behind it.
_DAG_HASHES = Prepared(
    select(SerializedDagModel.dag_id, SerializedDagModel.dag_hash).where(
        SerializedDagModel.dag_id >= bindparam("first"), SerializedDagModel.dag_id <= bindparam("last")
    )
)


def _dag_conditions(only_active: bool, paused: bool | None, has_pattern: bool) -> list[Any]:
    """_filtered's conditions, the pattern bound."""
    found = []
    if only_active:
        found.append(DagModel.is_active.is_(True))
    if paused is not None:
        found.append(DagModel.is_paused.is_(paused))
    if has_pattern:
        found.append(DagModel.dag_id.ilike(bindparam("dag_id_pattern")))
    return found


# What a page reads: the values, or on SQLite (without `fields`) first only each row's fingerprint (its values
# as one text, made by SQLite: reading them into Python costs more than the rest of a cached page), then,
# when some item is not rendered yet, the values with the fingerprint.
_DAG_VALUES = (*_DAG_ROW.columns, ImportErrorModel.id)
_DAG_FINGERPRINT = sqlite_fingerprint(_DAG_VALUES)
_DAG_PAGE_COLUMNS = {
    "values": _DAG_VALUES,
    "fingerprints": (DagModel.dag_id, _DAG_FINGERPRINT),
    "values and fingerprints": (*_DAG_VALUES, _DAG_FINGERPRINT),
}


def _dag_page_statement(shape: tuple):
    only_active, paused, has_pattern, descending, paged, reading = shape
    query = (
        select(*_DAG_PAGE_COLUMNS[reading])
        .outerjoin(ImportErrorModel, ImportErrorModel.filename == DagModel.fileloc)
        .where(*_dag_conditions(only_active, paused, has_pattern))
        .order_by(DagModel.dag_id.desc() if descending else DagModel.dag_id)
    )
    return query.limit(bindparam("page_limit")).offset(bindparam("page_offset")) if paged else query


def _dag_count_statement(shape: tuple):
    return select(func.count()).select_from(DagModel).where(*_dag_conditions(*shape))


_dag_pages = PreparedShapes(_dag_page_statement)
_dag_counts = PreparedShapes(_dag_count_statement)
_rendered_dags = RenderedRows(max_entries=5_000)


def _dag_hashes(session: Session, rows: list[tuple], descending: bool) -> dict[str, str]:
    """The serialized hash of each DAG in `rows` (in the database's dag_id order) that has one."""
    if not rows:
        return {}
    first, last = rows[0][0], rows[-1][0]
    if descending:
        first, last = last, first
    return dict(fetch_all(_DAG_HASHES, session, {"first": first, "last": last}))


def dag_list_json(
    session: Session,
    where: DagFilter,
    *,
    limit: int,
    offset: int,
    descending: bool,
    keys: list[str] | None,
    token_of: TokenOf,
    token_scope: Hashable,
) -> bytes:
    """find_dags' page rendered as the list's JSON (only `keys` of each DAG when given). `token_scope` is
    what `token_of` depends on besides the path (the signing key): part of a rendered item's key."""
    filters = (where.only_active, where.paused, bool(where.dag_id_pattern))
    values = {"dag_id_pattern": f"%{where.dag_id_pattern}%"} if where.dag_id_pattern else {}
    rendered = _rendered_dags
    identity: Callable[[tuple], Hashable] = _whole_row
    if where.tags:
        # Tags are a JSON list per DAG: matched here rather than in SQL dialect by dialect (any tag: OR).
        wanted = set(where.tags)
        rows = [
            row
            for row in fetch_all(_dag_pages((*filters, descending, False, "values")), session, values)
            if wanted.intersection(str(t) for t in (json_loads(row[_TAGS_AT]) if row[_TAGS_AT] else None) or [])
        ]
        total = len(rows)
        rows = rows[offset : offset + limit]
    else:
        total = fetch_all(_dag_counts(filters), session, values)[0][0] or 0
        page = {**values, "page_limit": limit, "page_offset": offset}
        if keys is None and session.get_bind().dialect.name == "sqlite":
            fingerprints = fetch_all(_dag_pages((*filters, descending, True, "fingerprints")), session, page)
            hashes = _dag_hashes(session, fingerprints, descending)
            cached = [
                rendered.get((token_scope, hashes.get(dag_id), fingerprint)) for dag_id, fingerprint in fingerprints
            ]
            if None not in cached:
                return json_list("dags", cached, total)  # type: ignore[arg-type]
            rows = fetch_all(_dag_pages((*filters, descending, True, "values and fingerprints")), session, page)
            identity = _last_column
        else:
            rows = fetch_all(_dag_pages((*filters, descending, True, "values")), session, page)
    hashes = _dag_hashes(session, rows, descending)
    if keys is not None:
        shown = [select_fields(item, keys) for item, _ in _dags_of_rows(session, rows, hashes, token_of)]
        return json_list("dags", [orjson.dumps(item, option=_JSON_OPTIONS) for item in shown], total)
    cache_keys = [(token_scope, hashes.get(row[0]), identity(row)) for row in rows]
    fragments: list[bytes | None] = [rendered.get(key) for key in cache_keys]
    missing = [row for row, fragment in zip(rows, fragments, strict=True) if fragment is None]
    if missing:
        made = iter(_dags_of_rows(session, missing, hashes, token_of))
        for i, fragment in enumerate(fragments):
            if fragment is None:
                item, as_keyed = next(made)
                fragments[i] = orjson.dumps(item, option=_JSON_OPTIONS)
                if as_keyed:
                    rendered.put(cache_keys[i], fragments[i])
    return json_list("dags", fragments, total)  # type: ignore[arg-type]


def _whole_row(row: tuple) -> tuple:
    return row


def _last_column(row: tuple) -> Any:
    return row[-1]


def _dags_of_rows(
    session: Session, rows: list[tuple], hashes: dict[str, str], token_of: TokenOf
) -> list[tuple[dict[str, Any], bool]]:
    """Each row's DAG as shown, and whether it was shown from the serialized DAG of the hash in `hashes`
    (else the DAG changed since that was read: what was shown must not be kept under that hash)."""
    dialect = session.get_bind().dialect
    serialized = serialized_dags_by_hash(session, {row[0]: hashes[row[0]] for row in rows if row[0] in hashes})
    shown = []
    for row in rows:
        dag = _DAG_ROW.read(dialect, row)
        data, data_hash = serialized.get(dag.dag_id, (None, None))
        # import_error_files' rule: a DAG without a file path has no import error.
        failing = bool(dag.fileloc) and row[_IMPORT_ERROR_AT] is not None
        view = _dag_views.get((dag.dag_id, data_hash), data)
        item = dag_json(dag, data, has_import_errors=failing, token_of=token_of, view=view)
        shown.append((item, data_hash == hashes.get(dag.dag_id)))
    return shown


class _DagViews:
    """_dag_api's answer per (dag_id, the hash of the serialized data): what a DAG shows from its serialized
    form changes only with the hash (walking its tasks for the owners is most of rendering a DAG). Bounded."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._max_entries = max_entries
        self._views: dict[tuple[str, str | None], dict[str, Any]] = {}

    def get(self, key: tuple[str, str | None], data: dict[str, Any] | None) -> dict[str, Any]:
        view = self._views.get(key)
        if view is None:
            if len(self._views) >= self._max_entries:
                self._views.clear()
            view = self._views[key] = _dag_api(data, key[0])
        return view


_dag_views = _DagViews()


# -- tasks ---------------------------------------------------------------------------------------------


def _task_api(task: dict[str, Any]) -> dict[str, Any]:
    view = task.get("api") or {}
    display = task.get("display") or {}
    return {
        "class_ref": view.get("class_ref") or {"class_name": task.get("operator", ""), "module_path": ""},
        "operator_name": view.get("operator_name", task.get("operator", "")),
        "task_display_name": view.get("task_display_name", task["task_id"]),
        "wait_for_downstream": bool(view.get("wait_for_downstream", display.get("wait_for_downstream") == "True")),
        "ui_color": view.get("ui_color", display.get("ui_color", "#fff")),
        "ui_fgcolor": view.get("ui_fgcolor", display.get("ui_fgcolor", "#000")),
        "params": view.get("params") or {},
    }


def task_json(dag: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    view = _task_api(task)
    params = dict(dag.get("params") or {})
    params.update(view["params"])
    return {
        "class_ref": view["class_ref"],
        "depends_on_past": bool(task.get("depends_on_past", False)),
        "doc_md": task.get("doc_md"),
        "downstream_task_ids": list(task.get("downstream_task_ids") or []),
        "end_date": _iso_text(task.get("end_date")),
        "execution_timeout": time_delta(task.get("execution_timeout")),
        "extra_links": [],
        "is_mapped": "mapping" in task,
        "operator_name": view["operator_name"],
        "owner": task.get("owner", "airflow"),
        "params": params_dump(params),
        "pool": task.get("pool", "default_pool"),
        "pool_slots": float(task.get("pool_slots", 1)),
        "priority_weight": float(task.get("priority_weight", 1)),
        "queue": task.get("queue"),
        "retries": float(task.get("retries") or 0),
        "retry_delay": time_delta(task.get("retry_delay")),
        "retry_exponential_backoff": bool(task.get("retry_exponential_backoff", False)),
        "start_date": _iso_text(task.get("start_date")),
        "task_display_name": view["task_display_name"],
        "task_id": task["task_id"],
        "template_fields": list(task.get("template_fields") or []),
        "trigger_rule": task.get("trigger_rule", "all_success"),
        "ui_color": view["ui_color"],
        "ui_fgcolor": view["ui_fgcolor"],
        "wait_for_downstream": view["wait_for_downstream"],
        "weight_rule": task.get("weight_rule", "downstream"),
    }


# Operator attributes /tasks may sort by (Airflow sorts by any attribute; these are the ones a task has
# here): read from the serialized task, or from the task as shown.
_SORT_BY_SERIALIZED = frozenset(
    {
        "task_id", "owner", "email", "retries", "retry_delay", "retry_exponential_backoff", "max_retry_delay",
        "execution_timeout", "pool", "pool_slots", "priority_weight", "weight_rule", "queue", "trigger_rule",
        "depends_on_past", "start_date", "end_date", "doc_md",
    }
)  # fmt: skip
_SORT_BY_SHOWN = frozenset(
    {"task_display_name", "operator_name", "wait_for_downstream", "ui_color", "ui_fgcolor", "is_mapped"}
)


def _sort_value(name: str, task: dict[str, Any], shown: dict[str, Any]) -> Any:
    if name == "task_type":
        return shown["class_ref"]["class_name"]
    return task.get(name) if name in _SORT_BY_SERIALIZED else shown[name]


def tasks_json(dag: dict[str, Any], order_by: str | None) -> list[dict[str, Any]]:
    """Every task, sorted as `order_by` says (an attribute, `-` for descending; task_id by default)."""
    order_by = order_by or "task_id"
    name = order_by.lstrip("-")
    if name not in _SORT_BY_SERIALIZED and name not in _SORT_BY_SHOWN and name != "task_type":
        raise BadRequest(f"'SerializedBaseOperator' object has no attribute '{name}'")
    values = [
        (_sort_value(name, task, shown), shown) for task in dag["tasks"].values() for shown in [task_json(dag, task)]
    ]
    descending = order_by.startswith("-")
    try:  # None first, as the smallest
        values.sort(key=lambda pair: (pair[0] is not None, pair[0] if pair[0] is not None else 0), reverse=descending)
    except TypeError:  # values of mixed types (an email as a string here, a list there): by their text
        values.sort(key=lambda pair: (pair[0] is not None, str(pair[0])), reverse=descending)
    return [shown for _, shown in values]

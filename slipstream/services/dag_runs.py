"""Creating and reading DAG runs: the trigger the API and CLI share, and the run factory the scheduler uses."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import bindparam, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipstream.api.json_limits import MAX_JSON_DEPTH, nests_deeper_than
from slipstream.dates import isoformat, parse_execution_date, utcnow
from slipstream.errors import BadRequest, NotFound
from slipstream.services.params import check_trigger_conf
from slipstream.services.run_task_instances import task_rows_of
from slipstream.services.serialized import check_dag_exists, get_serialized_dag
from slipstream.states import DAG_RUN_STATES, DagRunState
from slipstream.storage.isoformat_columns import isoformat_reader
from slipstream.storage.models import ID_LENGTH, DagRun
from slipstream.storage.prepared import Prepared
from slipstream.storage.raw_rows import RenderedRows
from slipstream.timetables import infer_manual_data_interval

ALLOWED_RUN_ID_PATTERN = r"^[A-Za-z0-9_.~:+-]+$"
BUILTIN_RUN_ID_PATTERN = r"^(?:manual|scheduled|dataset_triggered)__(?:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00)$"
_allowed_run_id = re.compile(ALLOWED_RUN_ID_PATTERN)
_builtin_run_id = re.compile(BUILTIN_RUN_ID_PATTERN)
_TRUTHY = {"true", "t", "y", "yes", "1", "on"}
CONF_MESSAGE = "Dag Run conf must be a dictionary object, other types are not supported"


@dataclass(frozen=True)
class TriggerRequest:
    """A trigger, validated: what the API body or the CLI asked for."""

    run_id: str | None
    conf: dict[str, Any]
    execution_date: datetime | None
    replace_microseconds: bool


def parse_conf(conf: Any) -> dict[str, Any]:
    """A JSON object as is; a string holding a JSON object parsed (the seed docs send one); null means {}."""
    if conf is None:
        return {}
    if isinstance(conf, str):
        try:
            conf = orjson.loads(conf)
        except orjson.JSONDecodeError:
            raise BadRequest(CONF_MESSAGE) from None
        # The body's nesting limit never saw inside the string; the json module that stores it recurses.
        if nests_deeper_than(conf, MAX_JSON_DEPTH):
            raise BadRequest(f"Dag Run conf nests JSON arrays or objects deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(conf, dict):
        raise BadRequest(CONF_MESSAGE)
    return conf


def parse_replace_microseconds(value: Any) -> bool | None:
    """Airflow's truthy words, any case, or a JSON boolean; None means 'not given'."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in _TRUTHY
    raise BadRequest(f"replace_microseconds must be a boolean or a boolean string, not {value!r}")


def parse_trigger_body(body: Any) -> TriggerRequest:
    """Check a trigger body in Airflow's order: shape, conf, execution_date, replace_microseconds."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    conf = parse_conf(body.get("conf"))
    raw_date = body.get("execution_date")
    execution_date = None if raw_date is None else parse_execution_date(raw_date)
    replace = parse_replace_microseconds(body.get("replace_microseconds"))
    if replace is None:
        replace = execution_date is None
    run_id = body.get("run_id")
    if run_id is not None and not isinstance(run_id, str):
        raise BadRequest(f"run_id must be a string, not {run_id!r}")
    return TriggerRequest(run_id=run_id or None, conf=conf, execution_date=execution_date, replace_microseconds=replace)


def _invalid_run_id_message(run_id: str) -> str:
    return (
        f"The provided run ID '{run_id}' is invalid. It does not match either the configured pattern: "
        f"'{ALLOWED_RUN_ID_PATTERN}' or the built-in pattern: '{BUILTIN_RUN_ID_PATTERN}'"
    )


def validate_run_id(run_id: str) -> None:
    if len(run_id) > ID_LENGTH or not (_allowed_run_id.match(run_id) or _builtin_run_id.match(run_id)):
        raise BadRequest(_invalid_run_id_message(run_id))


def duplicate_message(dag_id: str, execution_date: datetime, run_id: str) -> str:
    return f"A DAG Run already exists for DAG {dag_id} at {execution_date} with run id {run_id}"


@dataclass(frozen=True, slots=True)
class CreatedRun:
    """A run as create_dag_run inserted it: its id and values, without an ORM object's bookkeeping."""

    id: int
    dag_id: str
    run_id: str
    execution_date: datetime
    state: str
    run_type: str
    external_trigger: bool
    conf: dict[str, Any]
    queued_at: datetime
    data_interval_start: datetime
    data_interval_end: datetime


def dag_run_repr(run: DagRun | CreatedRun, execution_date: datetime | None = None) -> str:
    return (
        f"<DagRun {run.dag_id} @ {execution_date or run.execution_date}: {run.run_id}, state:{run.state}, "
        f"queued_at: {run.queued_at}. externally triggered: {run.external_trigger}>"
    )


_RUN_COLUMNS = (
    "dag_id", "run_id", "execution_date", "state", "run_type", "external_trigger", "conf", "queued_at",
    "data_interval_start", "data_interval_end",
)  # fmt: skip
_INSERT_RUN = Prepared(
    insert(DagRun.__table__).values({c: bindparam(c) for c in _RUN_COLUMNS}).returning(DagRun.__table__.c.id)
)


def create_dag_run(
    session: Session,
    *,
    dag: dict[str, Any],
    run_id: str,
    execution_date: datetime,
    conf: dict[str, Any],
    run_type: str,
    data_interval: tuple[datetime, datetime],
    external_trigger: bool,
) -> CreatedRun:
    """Insert a queued run and its task instances (state None) as one unit; the caller commits.

    Task instances exist from the start, as in Airflow, for tasks whose start/end dates admit the run.
    Both are prepared Core INSERTs (the ORM's unit of work costs several times the statements);
    the task instances' is prepared per DAG (slipstream.services.run_task_instances).
    """
    now = utcnow()
    values = {
        "dag_id": dag["dag_id"],
        "run_id": run_id,
        "execution_date": execution_date,
        "state": DagRunState.QUEUED.value,
        "run_type": run_type,
        "external_trigger": external_trigger,
        "conf": conf,
        "queued_at": now,
        "data_interval_start": data_interval[0],
        "data_interval_end": data_interval[1],
    }
    run_pk = _INSERT_RUN.scalar(session, values)
    task_rows_of(dag).insert(session, run_id=run_id, execution_date=execution_date, now=now)
    return CreatedRun(id=run_pk, **values)


def _comparable_run_id(run_id: str) -> str | None:
    """None for a run_id with a NUL, which no stored run has (validate_run_id refuses it) and which
    PostgreSQL refuses in a text parameter (a 500): then only the execution date can clash."""
    return None if "\x00" in run_id else run_id


_DUPLICATE = Prepared(
    select(DagRun.id)
    .where(DagRun.dag_id == bindparam("dag_id"))
    .where(or_(DagRun.run_id == bindparam("run_id"), DagRun.execution_date == bindparam("execution_date")))
    .limit(1)
)


def has_duplicate(session: Session, dag_id: str, run_id: str, execution_date: datetime) -> bool:
    """Whether the DAG already has a run with this run_id or at this execution date."""
    # A None run_id binds as `run_id = NULL`, which matches nothing.
    params = {"dag_id": dag_id, "run_id": _comparable_run_id(run_id), "execution_date": execution_date}
    return _DUPLICATE.first(session, params) is not None


def trigger_dag_run(session: Session, dag_id: str, request: TriggerRequest) -> tuple[CreatedRun, datetime]:
    """Create a manual run, queued. Returns the run and the execution date as the client gave it.

    A conf that breaks one of the DAG's params is a 400 naming the param, and nothing is stored.
    Duplicates (same run_id or same execution date) are a 400, also when two triggers race: then the
    unique constraints refuse the loser's INSERT, and its unit of work rolls back as for any error
    (which is why no savepoint is needed around the inserts).
    """
    dag = get_serialized_dag(session, dag_id)
    execution_date = request.execution_date or utcnow()
    if request.replace_microseconds:
        execution_date = execution_date.replace(microsecond=0)
    run_id = request.run_id or f"manual__{execution_date.isoformat()}"

    def duplicate() -> Exception:
        return BadRequest(duplicate_message(dag_id, execution_date, run_id))

    run = create_manual_run(
        session, dag, run_id=run_id, execution_date=execution_date, conf=request.conf, duplicate=duplicate
    )
    return run, execution_date


def create_manual_run(
    session: Session,
    dag: dict[str, Any],
    *,
    run_id: str,
    execution_date: datetime,
    conf: dict[str, Any],
    duplicate: Callable[[], Exception],
    data_interval: tuple[datetime, datetime] | None = None,
) -> CreatedRun:
    """The trigger both APIs share: checks in Airflow's order, then the prepared inserts.

    `duplicate()` is the error for a run_id or execution date the DAG has already (each API words it
    its own way); `data_interval` defaults to the one the DAG's schedule infers for a manual run.
    """
    dag_id = dag["dag_id"]
    if has_duplicate(session, dag_id, run_id, execution_date):
        raise duplicate()
    validate_run_id(run_id)
    check_trigger_conf(dag, conf)
    if data_interval is None:
        try:
            data_interval = infer_manual_data_interval(dag["schedule"], execution_date)
        except (OverflowError, ValueError):  # a cron's ticks stop short of years 1 and 10000
            raise BadRequest(f"The DAG's schedule has no data interval for a run at {execution_date}") from None
    try:
        return create_dag_run(
            session,
            dag=dag,
            run_id=run_id,
            execution_date=execution_date,
            conf=conf,
            run_type="manual",
            data_interval=data_interval,
            external_trigger=True,
        )
    except IntegrityError:
        # Another trigger won the race between our check and our insert.
        raise duplicate() from None


# -- reading runs -------------------------------------------------------------------------------


def dag_run_url(dag_id: str, execution_date: datetime) -> str:
    """Airflow 2.x's graph-view link, with the date as str() form-encoded."""
    return f"/dags/{quote(dag_id, safe='')}/graph?execution_date={_form_encoded_str(execution_date.isoformat())}"


def _form_encoded_str(iso: str) -> str:
    """quote_plus(str(d)) from iso = d.isoformat(), without formatting the date twice.

    str(d) is d.isoformat() with a space for the "T"; quote_plus turns that space into "+" and escapes
    ":" and "+". A datetime's isoformat() has no other character quote_plus would change. Chained
    replaces (none brings in a character a later one changes) are 4x faster than str.translate.
    """
    return iso.replace("+", "%2B").replace(":", "%3A").replace("T", "+")


def parse_state_filter(state: str | None) -> str | None:
    if state is None or state == "":
        return None
    lowered = state.lower()
    if lowered not in DAG_RUN_STATES:
        raise BadRequest(f"Invalid state {state!r}: the valid states are {', '.join(DAG_RUN_STATES)}")
    return lowered


# Prepared: the list's rows come from the DBAPI cursor as stored, and the dates are turned into the
# API's isoformat() strings by isoformat_reader() for the dialect (on SQLite a cut of the
# stored text, see slipstream.storage.isoformat_columns), skipping SQLAlchemy's result rows.
_RUN_LIST = Prepared(
    select(DagRun.id, DagRun.run_id, DagRun.state, DagRun.execution_date, DagRun.start_date)
    .where(DagRun.dag_id == bindparam("dag_id"))
    .order_by(DagRun.execution_date)
)
_RUN_LIST_IN_STATE = Prepared(
    select(DagRun.id, DagRun.run_id, DagRun.state, DagRun.execution_date, DagRun.start_date)
    .where(DagRun.dag_id == bindparam("dag_id"), DagRun.state == bindparam("state"))
    .order_by(DagRun.execution_date)
)


def list_dag_runs_json(session: Session, dag_id: str, state: str | None) -> bytes:
    """The list endpoint's JSON array (sorted keys, compact), oldest execution date first.

    An unknown DAG is a 400, as in Airflow."""
    return b"[" + b",".join(_run_list_fragments(session, dag_id, state)) + b"]"


def _run_list_fragments(session: Session, dag_id: str, state: str | None) -> list[bytes]:
    try:
        check_dag_exists(session, dag_id)
    except NotFound as exc:
        raise BadRequest(exc.message) from None
    wanted = parse_state_filter(state)
    if wanted is None:
        cursor = _RUN_LIST.execute(session, {"dag_id": dag_id})
    else:
        cursor = _RUN_LIST_IN_STATE.execute(session, {"dag_id": dag_id, "state": wanted})
    try:
        rows = cursor.fetchall()
    finally:
        cursor.close()
    dialect = session.get_bind().dialect
    rendered = _rendered_run_items
    fragments = []
    for row in rows:
        key = (dialect.name, dag_id, *row)
        fragment = rendered.get(key)
        if fragment is None:
            fragment = rendered.put(key, _render_run_item(dialect, dag_id, row))
        fragments.append(fragment)
    return fragments


def _render_run_item(dialect, dag_id: str, row: tuple) -> bytes:
    run_pk, run_id, run_state, stored_execution_date, stored_start_date = row
    to_isoformat = isoformat_reader(dialect)
    execution_date = to_isoformat(stored_execution_date)
    item = {
        "dag_id": dag_id,
        "dag_run_url": f"/dags/{quote(dag_id, safe='')}/graph?execution_date={_form_encoded_str(execution_date)}",
        "execution_date": execution_date,
        "id": run_pk,
        "run_id": run_id,
        "start_date": to_isoformat(stored_start_date) or "",
        "state": run_state,
    }
    return orjson.dumps(item, option=orjson.OPT_SORT_KEYS)


# Clients poll run lists, and most of a list's runs have not changed since the last poll: rendering an
# item (two dates, the URL, the JSON) costs several times looking it up.
_rendered_run_items = RenderedRows(max_entries=8_192)


def run_not_found_message(dag_id: str, execution_date: datetime) -> str:
    return f"Dag Run for date {execution_date} not found in dag {dag_id}"


def get_dag_run(session: Session, dag_id: str, execution_date: datetime) -> DagRun:
    """The run at exactly that instant (any offset naming it matches)."""
    run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.execution_date == execution_date))
    if run is None:
        raise NotFound(run_not_found_message(dag_id, execution_date))
    return run


@functools.cache
def _latest_runs_query():
    """Built once: constructing this statement costs more than running it."""
    distinct = DagRun.__table__.alias("distinct_runs")
    dag_ids = select(func.min(DagRun.dag_id).label("dag_id")).cte("dag_ids", recursive=True)
    following = select(func.min(distinct.c.dag_id)).where(distinct.c.dag_id > dag_ids.c.dag_id).scalar_subquery()
    dag_ids = dag_ids.union_all(select(following).where(dag_ids.c.dag_id.is_not(None)))
    newest = DagRun.__table__.alias("newest_runs")
    latest_date = select(func.max(newest.c.execution_date)).where(newest.c.dag_id == dag_ids.c.dag_id)
    return (
        select(DagRun.dag_id, DagRun.execution_date, DagRun.start_date)
        .join(dag_ids, DagRun.dag_id == dag_ids.c.dag_id)
        .where(DagRun.execution_date == latest_date.scalar_subquery())
        .order_by(DagRun.dag_id)
    )


def latest_runs(session: Session) -> list[dict[str, str]]:
    """One item per DAG that has runs: its latest execution date, whatever the state; by dag_id.

    Proportional to the number of DAGs, not of runs: the DAG ids are walked through the
    (dag_id, execution_date) index one distinct id at a time (a recursive "skip scan", on SQLite and
    PostgreSQL alike), and each DAG's latest run is one index seek, where a GROUP BY would read
    every run of every DAG.
    """
    query = _latest_runs_query()
    return [
        {
            "dag_id": row.dag_id,
            "dag_run_url": dag_run_url(row.dag_id, row.execution_date),
            "execution_date": row.execution_date.isoformat(),
            "start_date": isoformat(row.start_date),
        }
        for row in session.execute(query)
    ]


def get_dag_run_state(session: Session, dag_id: str, execution_date: datetime) -> str:
    """The run's state; checks in Airflow's order: the DAG, then the run at that instant."""
    get_serialized_dag(session, dag_id)
    return get_dag_run(session, dag_id, execution_date).state

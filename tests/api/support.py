"""Helpers shared by the HTTP tests (tests/api) and the contract tests (tests/contract).

A database with the example DAGs is built once per session (migrations + one dag-processor pass,
which parses every file in a child process) and copied for each test, so every test starts from the
same state and none sees another's writes. On SQLite the copy is a file in the test's directory; on
PostgreSQL (SLIPSTREAM_TEST_BACKEND=postgres) the template is a database, cloned per test with
CREATE DATABASE ... TEMPLATE and dropped afterwards.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url

from slipstream.config import Settings
from slipstream.storage.db import get_engine, session_scope
from slipstream.storage.models import DagModel, DagRun, Pool, TaskInstance
from tests.databases import PostgresDatabases, sqlite_url

BASE = "/api/experimental"
JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
TEXT_PLAIN = "text/plain; charset=utf-8"
BASH_DAG = "example_bash_operator"
INVALID_DATE = (
    "Given execution date, {raw}, could not be identified as a date. Example date format: 2015-11-16T14:34:15+00:00"
)
# The reason phrases we answer with. 413's phrase comes from the standard library, whose spelling
# changed across Python versions ("Request Entity Too Large" / "Content Too Large").
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: HTTPStatus(413).phrase,
}
NOT_FOUND_ROUTE = (
    "The requested URL was not found on the server. If you entered the URL manually please check your "
    "spelling and try again."
)
METHOD_NOT_ALLOWED = "The method is not allowed for the requested URL."
# Python's str() of an aware datetime, e.g. "2024-01-01 00:00:00.123456+00:00".
STR_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{6})?\+00:00$")


def api_settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "auth_backend": "default",
        "load_examples": True,
        "dags_folder": home / "dags",
    }
    values.update(overrides)
    return Settings(**values)


def build_template_database(
    home: Path, databases: PostgresDatabases | None, prepare: Callable[[Settings], None] | None = None
) -> str:
    """A migrated DB holding the example DAGs (and the example pool), then whatever `prepare(settings)`
    adds; returns its URL. On SQLite a single file in `home`; on PostgreSQL (`databases` given) a
    template database, which only copy_database may use from then on."""
    from slipstream.dag_processing import process_all
    from slipstream.storage.migrations.runner import upgrade

    def load(url: str) -> None:
        settings = api_settings(home, database_url=url)
        settings.dags_folder.mkdir(parents=True, exist_ok=True)
        upgrade(settings.database_url, default_pool_slots=settings.default_pool_slots)
        report = process_all(settings)
        assert not report.import_errors, report.import_errors
        assert {"example_bash_operator", "example_python_operator", "example_pool"} <= set(report.dag_ids)
        if prepare is not None:
            prepare(settings)
        get_engine(settings.database_url).dispose()

    if databases is None:
        load(sqlite_url(home))
        return sqlite_url(home)
    return databases.url(databases.create_template(load))


def copy_database(template_url: str, home: Path, databases: PostgresDatabases | None) -> str:
    """A database of this test's own, copied from a build_template_database template; returns its URL.

    SQLite: `home`/slipstream.db, a consistent copy (the backup API folds in anything still in the
    WAL). PostgreSQL: a clone of the template database."""
    if databases is not None:
        return databases.create(template=make_url(template_url).database)
    source = sqlite3.connect(make_url(template_url).database)
    destination = sqlite3.connect(home / "slipstream.db")
    try:
        source.backup(destination)
    finally:
        destination.close()
        source.close()
    return sqlite_url(home)


def drop_database(url: str, databases: PostgresDatabases | None) -> None:
    """Done with a copy_database copy: close its connections (and on PostgreSQL, drop it)."""
    get_engine(url).dispose()
    if databases is not None:
        databases.drop(url)


# -- assertions -------------------------------------------------------------------------------------


def assert_json(response, status: int, body: Any) -> None:
    """Exact status, JSON content type, no-store and the whole body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == body


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": message, "type": "about:blank", "title": TITLES[status], "status": status, "detail": message}


def assert_error(response, status: int, message: str) -> None:
    """The one error shape: problem+json carrying Airflow's `error` beside the RFC 9457 fields."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == error_body(status, message)


def assert_error_matching(response, status: int, pattern: str) -> str:
    """The error shape, for messages written by a validator rather than by us; returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    message = body["error"]
    assert re.search(pattern, message), message
    assert body == error_body(status, message)
    return message


# -- the database, read and written directly ------------------------------------------------------------


def read_run(settings: Settings, dag_id: str, run_id: str) -> DagRun | None:
    with session_scope(settings.database_url, write=False) as db:
        return db.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))


def read_runs(settings: Settings, dag_id: str | None = None) -> list[DagRun]:
    with session_scope(settings.database_url, write=False) as db:
        query = select(DagRun).order_by(DagRun.id)
        if dag_id is not None:
            query = query.where(DagRun.dag_id == dag_id)
        return list(db.scalars(query))


def read_task_instance(settings: Settings, dag_id: str, run_id: str, task_id: str) -> TaskInstance | None:
    with session_scope(settings.database_url, write=False) as db:
        return db.scalar(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id
            )
        )


def update_task_instance(settings: Settings, dag_id: str, run_id: str, task_id: str, **values: Any) -> None:
    with session_scope(settings.database_url) as db:
        ti = db.scalar(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id
            )
        )
        assert ti is not None
        for key, value in values.items():
            setattr(ti, key, value)


def delete_task_instance(settings: Settings, dag_id: str, run_id: str, task_id: str) -> None:
    with session_scope(settings.database_url) as db:
        ti = db.scalar(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id
            )
        )
        assert ti is not None
        db.delete(ti)


def update_run(settings: Settings, dag_id: str, run_id: str, **values: Any) -> None:
    with session_scope(settings.database_url) as db:
        run = db.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        assert run is not None
        for key, value in values.items():
            setattr(run, key, value)


def insert_run(
    settings: Settings, dag_id: str, run_id: str, execution_date: datetime, state: str = "queued", **values: Any
) -> None:
    """A bare run row (no task instances), for list and latest_runs tests that need chosen states."""
    with session_scope(settings.database_url) as db:
        db.add(DagRun(dag_id=dag_id, run_id=run_id, execution_date=execution_date, state=state, **values))


def set_pools(settings: Settings, pools: list[tuple[str, int, str | None]]) -> None:
    """Replace every pool but default_pool with these (name, slots, description), in this order."""
    with session_scope(settings.database_url) as db:
        for pool in db.scalars(select(Pool).where(Pool.pool != "default_pool")):
            db.delete(pool)
        db.flush()
        for name, slots, description in pools:
            db.add(Pool(pool=name, slots=slots, description=description, include_deferred=False))


def is_paused(settings: Settings, dag_id: str) -> bool | None:
    with session_scope(settings.database_url, write=False) as db:
        dag = db.get(DagModel, dag_id)
        return None if dag is None else dag.is_paused


def snapshot(settings: Settings) -> dict[str, list[tuple]]:
    """Every row a write endpoint could touch, to show that a rejected write changed nothing."""
    with session_scope(settings.database_url, write=False) as db:
        connection = db.connection()
        tables = ("dag", "serialized_dag", "dag_code", "dag_run", "task_instance", "slot_pool", "import_error")
        return {
            table: [tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1")]
            for table in tables
        }


# -- triggering -------------------------------------------------------------------------------------


def trigger(client, body: Any = None, dag_id: str = BASH_DAG, **kwargs: Any):
    """POST a trigger; `body` is sent as JSON unless `content=` is given."""
    if "content" not in kwargs:
        kwargs["json"] = {} if body is None else body
    return client.post(f"{BASE}/dags/{dag_id}/dag_runs", **kwargs)


def created_message(settings: Settings, dag_id: str, run_id: str, echoed_date: str) -> str:
    """`Created <DagRun ...>` as Airflow 2.10.5 words it; queued_at is read back from the DB."""
    run = read_run(settings, dag_id, run_id)
    assert run is not None, f"no run {run_id}"
    when = datetime.fromisoformat(echoed_date)
    return (
        f"Created <DagRun {dag_id} @ {when}: {run_id}, state:queued, queued_at: {run.queued_at}. "
        "externally triggered: True>"
    )


def trigger_body(settings: Settings, run_id: str, echoed_date: str, dag_id: str = BASH_DAG) -> dict[str, str]:
    return {
        "execution_date": echoed_date,
        "message": created_message(settings, dag_id, run_id, echoed_date),
        "run_id": run_id,
    }

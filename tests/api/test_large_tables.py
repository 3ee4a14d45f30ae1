"""Reads that must stay proportional to what they return, not to the tables (issue 15)."""

from __future__ import annotations

import sqlalchemy
from sqlalchemy.orm import Session

from bench._bulk import generate
from slipstream.services import dag_runs
from slipstream.storage.db import get_engine
from tests.api.support import BASE, BASH_DAG


def test_latest_runs_with_many_runs_stored(app_settings, client):
    generate(app_settings.database_url, BASH_DAG, runs=300, tis_per_run=1, other_runs=300)
    items = client.get(f"{BASE}/latest_runs").json()["items"]
    by_dag = {item["dag_id"]: item for item in items}
    assert by_dag[BASH_DAG]["execution_date"] == "2020-01-01T04:59:00+00:00"  # the 300th minute
    assert len(by_dag) >= 2 and [item["dag_id"] for item in items] == sorted(by_dag)


def test_latest_runs_never_reads_every_run(app_settings):
    """On SQLite, the plan searches the (dag_id, execution_date) index; it never scans dag_run."""
    if not app_settings.database_url.startswith("sqlite"):
        return
    generate(app_settings.database_url, BASH_DAG, runs=50, tis_per_run=0, other_runs=50)
    engine = get_engine(app_settings.database_url)
    statements = []

    def capture(conn, cursor, statement, params, context, executemany):
        statements.append((statement, params))

    sqlalchemy.event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            dag_runs.latest_runs(session)
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", capture)
    statement, params = statements[-1]
    with engine.connect() as connection:
        plan = [row[3] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]
    reads = [step for step in plan if "dag_run" in step or "runs" in step]
    assert reads and all(step.startswith("SEARCH") for step in reads), plan

"""The audit log: every state-changing call records who, what, when and from where, with the change itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from slipstream.cli import app as cli
from slipstream.storage.db import session_scope
from slipstream.storage.models import AuditLog, DagModel
from tests.security.conftest import CLIENT_ADDRESS, GOOD, USERNAME

BASE = "/api/experimental"
DAG = "example_bash_operator"


def audit_rows(database_url: str) -> list[AuditLog]:
    with session_scope(database_url, write=False) as session:
        return list(session.scalars(select(AuditLog).order_by(AuditLog.id)))


def new_rows(app, call) -> tuple[object, list[AuditLog]]:
    before = {row.id for row in audit_rows(app.settings.database_url)}
    response = call()
    return response, [row for row in audit_rows(app.settings.database_url) if row.id not in before]


# (description, request, expected event, dag_id, target, extra) — every state-changing operation.
CHANGES = [
    (
        "trigger",
        ("POST", f"{BASE}/dags/{DAG}/dag_runs", {"run_id": "audited_run", "execution_date": "2030-01-02T03:04:05"}),
        "dag_run.trigger",
        DAG,
        "audited_run",
        {"run_id": "audited_run", "execution_date": "2030-01-02T03:04:05+00:00"},
    ),
    ("pause", ("GET", f"{BASE}/dags/{DAG}/paused/true", None), "dag.pause", DAG, None, None),
    ("unpause", ("GET", f"{BASE}/dags/{DAG}/paused/False", None), "dag.unpause", DAG, None, None),
    ("delete dag", ("DELETE", f"{BASE}/dags/{DAG}", None), "dag.delete", DAG, None, {"count": 1}),
    ("delete dag alias", ("DELETE", f"{BASE}/dags/{DAG}/delete_dag", None), "dag.delete", DAG, None, {"count": 1}),
    ("create pool", ("POST", f"{BASE}/pools", {"name": "etl", "slots": 4}), "pool.create", None, "etl", {"slots": 4}),
    (
        "update pool",
        ("POST", f"{BASE}/pools", {"name": "default_pool", "slots": "12"}),
        "pool.update",
        None,
        "default_pool",
        {"slots": 12},
    ),
    (
        "delete pool",
        ("DELETE", f"{BASE}/pools/example_single_slot_pool", None),
        "pool.delete",
        None,
        "example_single_slot_pool",
        {"slots": 1},
    ),
]


def send(client, method, url, body, headers=None):
    return client.request(method, url, json=body, headers=headers or {})


@pytest.mark.parametrize(
    ("request_", "event", "dag_id", "target", "extra"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES]
)
def test_each_state_changing_call_is_audited(secure, request_, event, dag_id, target, extra):
    started = datetime.now(UTC) - timedelta(seconds=1)
    response, rows = new_rows(secure, lambda: send(secure.client, *request_, headers=GOOD))
    assert response.status_code == 200, response.text
    assert len(rows) == 1
    row = rows[0]
    assert (row.event, row.username, row.remote_addr) == (event, USERNAME, CLIENT_ADDRESS)
    assert (row.dag_id, row.target, row.extra) == (dag_id, target, extra)
    assert started <= row.dttm <= datetime.now(UTC) + timedelta(seconds=1)


def test_open_access_records_no_username(make_app):
    app = make_app("default")
    response, rows = new_rows(app, lambda: app.client.get(f"{BASE}/dags/{DAG}/paused/true"))
    assert response.status_code == 200
    assert [(r.event, r.username, r.remote_addr) for r in rows] == [("dag.pause", None, CLIENT_ADDRESS)]


@pytest.mark.parametrize(
    "request_",
    [
        ("GET", f"{BASE}/dags/no_such_dag/paused/true", None),
        ("POST", f"{BASE}/dags/no_such_dag/dag_runs", {}),
        ("POST", f"{BASE}/dags/{DAG}/dag_runs", {"run_id": "bad run id!"}),
        ("DELETE", f"{BASE}/dags/no_such_dag", None),
        ("POST", f"{BASE}/pools", {"name": "p", "slots": "many"}),
        ("DELETE", f"{BASE}/pools/default_pool", None),
        ("DELETE", f"{BASE}/pools/no_such_pool", None),
    ],
    ids=[
        "pause unknown",
        "trigger unknown",
        "bad run id",
        "delete unknown dag",
        "bad slots",
        "default pool",
        "unknown pool",
    ],
)
def test_refused_changes_leave_no_audit_entry(secure, request_):
    response, rows = new_rows(secure, lambda: send(secure.client, *request_, headers=GOOD))
    assert 400 <= response.status_code < 500
    assert rows == []


def test_reads_and_unauthenticated_calls_are_not_audited(secure):
    def calls():
        secure.client.get(f"{BASE}/dags/{DAG}/paused", headers=GOOD)
        secure.client.get(f"{BASE}/pools", headers=GOOD)
        return secure.client.get(f"{BASE}/dags/{DAG}/paused/true")

    response, rows = new_rows(secure, calls)
    assert response.status_code == 401
    assert rows == []


def test_audit_entry_and_change_share_one_transaction(secure, monkeypatch):
    """If the audit entry cannot be written, the change is not made either."""

    def broken(*args, **kwargs):
        raise RuntimeError("audit storage unavailable")

    monkeypatch.setattr("handlers.dags.audit.record", broken)
    response = secure.client.get(f"{BASE}/dags/{DAG}/paused/true", headers=GOOD)
    assert response.status_code == 500
    with session_scope(secure.settings.database_url, write=False) as session:
        assert session.get(DagModel, DAG).is_paused is False


def test_audit_entries_outlive_the_deleted_dag(secure):
    client = secure.client
    assert client.post(f"{BASE}/dags/{DAG}/dag_runs", json={}, headers=GOOD).status_code == 200
    assert client.get(f"{BASE}/dags/{DAG}/paused/true", headers=GOOD).status_code == 200
    assert client.delete(f"{BASE}/dags/{DAG}", headers=GOOD).status_code == 200
    events = [(r.event, r.dag_id) for r in audit_rows(secure.settings.database_url) if r.dag_id == DAG]
    assert events == [("dag_run.trigger", DAG), ("dag.pause", DAG), ("dag.delete", DAG)]


def test_cli_changes_are_audited_and_listed(secure, monkeypatch):
    monkeypatch.setenv("SLIPSTREAM_HOME", str(secure.settings.home))
    monkeypatch.setenv("SLIPSTREAM_DATABASE_URL", secure.settings.database_url)
    runner = CliRunner()
    assert secure.client.get(f"{BASE}/dags/{DAG}/paused/true", headers=GOOD).status_code == 200
    assert runner.invoke(cli, ["users", "create", "ops", "--password", "ops password!"]).exit_code == 0
    assert runner.invoke(cli, ["pools", "set", "cli_pool", "3"]).exit_code == 0
    assert runner.invoke(cli, ["users", "reset-password", "ops", "--random"]).exit_code == 0
    assert runner.invoke(cli, ["users", "delete", "ops"]).exit_code == 0

    listed = runner.invoke(cli, ["audit", "list", "--json", "--limit", "5"])
    assert listed.exit_code == 0, listed.output
    rows = orjson.loads(listed.output)
    assert [r["event"] for r in rows] == [
        "user.delete",
        "user.reset_password",
        "pool.create",
        "user.create",
        "dag.pause",
    ]
    assert all(r["remote_addr"].startswith("cli") and r["username"] is None for r in rows[:4])
    assert (rows[4]["username"], rows[4]["remote_addr"]) == (USERNAME, CLIENT_ADDRESS)
    assert set(rows[0]) == {"id", "dttm", "event", "username", "remote_addr", "dag_id", "target", "extra"}

    table = runner.invoke(cli, ["audit", "list", "--limit", "2"])
    assert table.exit_code == 0 and "user.delete" in table.output
    assert "dag.pause" not in table.output

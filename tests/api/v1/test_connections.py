"""/api/v1/connections, replayed from Airflow 2.10.5's golden transcript (connections.json), and the audit rows."""

from __future__ import annotations

import json
import socket
import sqlite3

import pytest

from slipstream.api.app import create_app
from tests.api.v1._replay import check, replay
from tests.api.v1.golden import exchange

V1 = "/api/v1"
# Airflow's database held the 61 connections `airflow db reset` creates; Slipstream's holds none.
LISTS_OF_DEFAULT_CONNECTIONS = (350, 362, 363)


def test_the_connections_transcript_replays_as_airflow_answered(client):
    for seq in range(350, 376):
        if seq not in LISTS_OF_DEFAULT_CONNECTIONS:
            check(client, seq)


def test_the_list_has_airflows_items_without_password_or_extra(client):
    for seq in (351, 352):
        replay(client, seq)
    body = client.get(f"{V1}/connections").json()
    assert body["total_entries"] == 2
    assert body["connections"][0] == {
        "conn_type": "http",
        "connection_id": "golden_http",
        "description": "golden connection",
        "host": "example.com",
        "login": "user",
        "port": 443,
        "schema": "https",
    }
    assert set(body["connections"][1]) == set(exchange(350)["response"]["body"]["connections"][0])
    listed = client.get(f"{V1}/connections", params={"order_by": "-connection_id", "limit": 1}).json()
    assert [c["connection_id"] for c in listed["connections"]] == ["golden_postgres"]


def test_the_password_is_stored_and_kept_by_a_patch_without_it(client, app_settings):
    from slipstream.services.connections import get_connection
    from slipstream.storage.db import session_scope
    from slipstream.storage.encryption import cipher_for

    replay(client, 351)
    replay(client, 366)  # host only
    with session_scope(app_settings.database_url) as session:
        stored = get_connection(session, "golden_http", cipher_for(app_settings))
    assert stored.password == "pa55word"
    assert json.loads(stored.extra)["token"] == "abc123"
    assert stored.host == "example.net"


def test_changes_are_logged_with_password_and_sensitive_extra_masked(client):
    for seq in (351, 354, 367, 369, 373):
        replay(client, seq)
    events = client.get(f"{V1}/eventLogs", params={"included_events": "api.connection.create,api.connection.edit"})
    extras = [json.loads(e["extra"]) for e in events.json()["event_logs"]]
    assert extras[0]["password"] == "***"
    assert extras[0]["extra"] == {"token": "***", "timeout": 5, "nested": {"api_key": "***", "other": "v"}}
    assert extras[1] == {"connection_id": "golden_x"}  # refused by the handler: logged all the same
    assert extras[2]["extra"] == "Encountered non-JSON in `extra` field"
    assert extras[3] == {"connection_id": "renamed", "conn_type": "http"}
    deleted = client.get(f"{V1}/eventLogs", params={"event": "api.connection.delete"}).json()["event_logs"]
    assert json.loads(deleted[0]["extra"]) == {"connection_id": "golden_postgres"}


def test_patch_with_a_mask_naming_a_field_the_body_lacks_is_a_400(client):
    replay(client, 351)
    response = client.patch(
        f"{V1}/connections/golden_http", params={"update_mask": "login"}, json={"connection_id": "golden_http"}
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "'login' is unknown or cannot be updated."


def test_a_long_connection_id_is_a_400(client):
    response = client.post(f"{V1}/connections", json={"connection_id": "c" * 201, "conn_type": "http"})
    assert response.status_code == 400
    assert response.json()["detail"] == "The key has to be less than 200 characters"


@pytest.fixture
def testing_client(app_settings):
    settings = app_settings.with_overrides(test_connection="enabled", connection_test_timeout=2.0)
    return create_app(settings, validate_responses=True).test_client()


def test_testing_a_reachable_host_says_what_was_tested(testing_client):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        body = {"connection_id": "probe", "conn_type": "postgres", "host": "127.0.0.1", "port": port}
        response = testing_client.post(f"{V1}/connections/test", json=body)
    assert response.status_code == 200
    assert response.json()["status"] is True
    assert f"127.0.0.1:{port} accepts TCP connections" in response.json()["message"]
    assert "no login was tried" in response.json()["message"]


def test_testing_an_unreachable_host_fails_with_the_reason(testing_client):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed again before the test connects
    body = {"connection_id": "probe", "conn_type": "http", "host": "127.0.0.1", "port": port}
    response = testing_client.post(f"{V1}/connections/test", json=body)
    assert response.status_code == 200
    assert response.json()["status"] is False
    assert response.json()["message"].startswith(f"Could not connect to 127.0.0.1:{port}")


def test_testing_an_sqlite_connection_reads_the_file(testing_client, tmp_path):
    database = tmp_path / "x.db"
    sqlite3.connect(database).execute("create table t (a)").connection.close()
    good = testing_client.post(
        f"{V1}/connections/test", json={"connection_id": "s", "conn_type": "sqlite", "host": str(database)}
    )
    assert good.json()["status"] is True
    (tmp_path / "not.db").write_text("hello")
    bad = testing_client.post(
        f"{V1}/connections/test", json={"connection_id": "s", "conn_type": "sqlite", "host": str(tmp_path / "not.db")}
    )
    assert bad.json() == {"message": f"{tmp_path / 'not.db'} is not an SQLite database", "status": False}


def test_testing_without_a_host_or_port_tests_nothing(testing_client):
    body = {"connection_id": "probe", "conn_type": "google_cloud_platform"}
    response = testing_client.post(f"{V1}/connections/test", json=body)
    assert response.json()["status"] is False
    assert "names no host" in response.json()["message"]

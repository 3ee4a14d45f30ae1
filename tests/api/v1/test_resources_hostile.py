"""Values no database can take (NUL, which PostgreSQL refuses in any query, numbers past 64 bits) get a
clear 4xx from the XCom, variable, connection, pool, event-log and config operations, never a 500."""

from __future__ import annotations

import pytest

NUL_IN_PATH_OR_QUERY = [
    ("GET", "/api/v1/variables/a%00b"),
    ("PATCH", "/api/v1/variables/a%00b"),
    ("DELETE", "/api/v1/variables/a%00b"),
    ("GET", "/api/v1/connections/a%00b"),
    ("PATCH", "/api/v1/connections/a%00b"),
    ("DELETE", "/api/v1/connections/a%00b"),
    ("GET", "/api/v1/pools/a%00b"),
    ("PATCH", "/api/v1/pools/a%00b"),
    ("DELETE", "/api/v1/pools/a%00b"),
    ("GET", "/api/v1/dags/a%00b/dagRuns/~/taskInstances/~/xcomEntries"),
    ("GET", "/api/v1/dags/a/dagRuns/b/taskInstances/c/xcomEntries/k%00"),
    ("GET", "/api/v1/eventLogs?dag_id=a%00b"),
    ("GET", "/api/v1/eventLogs?included_events=a%00b"),
]
BODIES = {"PATCH": {"key": "a\x00b", "value": "x", "conn_type": "x", "name": "a", "slots": 1}}


@pytest.mark.parametrize("method, url", NUL_IN_PATH_OR_QUERY)
def test_nul_in_a_path_or_query_value_is_a_400(client, method, url):
    body = BODIES.get(method)
    if body is not None and "pools" in url:
        body = {"name": "a", "slots": 1}
    elif body is not None and "connections" in url:
        body = {"conn_type": "x"}
    response = client.request(method, url, **({"json": body} if body else {}))
    assert response.status_code == 400, response.text
    assert "can't contain NUL characters" in response.json()["detail"]


@pytest.mark.parametrize(
    "url, body",
    [
        ("/api/v1/variables", {"key": "a\x00b", "value": "x"}),
        ("/api/v1/variables", {"key": "k", "value": "a\x00b"}),
        ("/api/v1/connections", {"connection_id": "a\x00", "conn_type": "x"}),
        ("/api/v1/connections", {"connection_id": "ok", "conn_type": "a\x00"}),
        ("/api/v1/pools", {"name": "a\x00", "slots": 1}),
        ("/api/v1/pools", {"name": "ok", "slots": 1, "description": "a\x00"}),
    ],
)
def test_nul_in_a_body_is_a_400_and_is_logged(client, url, body):
    response = client.post(url, json=body)
    assert response.status_code == 400, response.text
    assert client.get("/api/v1/eventLogs", params={"order_by": "-event_log_id", "limit": 1}).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/variables?offset=99999999999999999999999",
        "/api/v1/connections?limit=99999999999999999999999",
        "/api/v1/pools?offset=99999999999999999999999",
        "/api/v1/eventLogs?after=2024-01-01T00:00:00%2B23:59",
        "/api/v1/config/section/a%00/option/b",
    ],
)
def test_extreme_values_are_not_server_errors(client, url):
    assert client.get(url).status_code < 500


def test_a_connection_test_with_a_nul_host_fails_cleanly(app_settings):
    from slipstream.api.app import create_app

    client = create_app(app_settings.with_overrides(test_connection="enabled"), validate_responses=True).test_client()
    body = {"connection_id": "x", "conn_type": "http", "host": "a\x00b", "port": 80}
    response = client.post("/api/v1/connections/test", json=body)
    assert response.status_code == 200
    assert response.json()["status"] is False


@pytest.mark.parametrize("field", ["conn_type", "host", "schema"])
def test_connection_fields_longer_than_their_columns_are_a_400(client, field):
    body = {"connection_id": "long", "conn_type": "http", field: "x" * 501}
    response = client.post("/api/v1/connections", json=body)
    assert response.status_code == 400
    assert response.json()["detail"] == f"Invalid connection long: {field} can't be more than 500 characters"
    assert client.patch("/api/v1/connections/long", json={field: "x" * 501}).status_code == 404

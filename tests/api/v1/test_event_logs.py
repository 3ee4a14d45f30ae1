"""/api/v1/eventLogs: the audit log with Airflow's filters, ordering and shape (event_logs.json)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from slipstream.services import audit
from slipstream.storage.db import session_scope
from tests.api.v1._replay import check, replay
from tests.api.v1.golden import assert_matches_golden, exchange

V1 = "/api/v1"
LOGICAL = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def logged(client, app_settings):
    """Rows as Airflow's example scenario leaves them: API changes, and a task's lifecycle rows."""
    client.post(f"{V1}/variables", json={"key": "golden_var", "value": "hello", "description": "recorded"})
    client.post(f"{V1}/variables", json={"key": "my_password", "value": "s3cr3t-value"})
    client.post(f"{V1}/pools", json={"name": "golden_pool", "slots": 3})
    with session_scope(app_settings.database_url) as session:
        for try_number in (1, 2):
            for event in ("running", "success"):
                audit.record(
                    session,
                    event,
                    username="airflow",
                    remote_addr=None,
                    dag_id="tutorial_taskflow_api",
                    task_id="load",
                    run_id="golden_taskflow_1",
                    map_index=-1,
                    try_number=try_number,
                    execution_date=LOGICAL,
                )
        audit.record(
            session,
            "running",
            username="airflow",
            remote_addr=None,
            dag_id="example_dynamic_task_mapping",
            task_id="add_one",
            run_id="golden_mapping_1",
            map_index=0,
            try_number=1,
            execution_date=LOGICAL,
        )
    return client


def events(client, **params) -> list[dict]:
    response = client.get(f"{V1}/eventLogs", params=params)
    assert response.status_code == 200, response.text
    return response.json()["event_logs"]


def test_an_entry_has_airflows_shape(logged):
    entry = events(logged, event="api.variable.create", limit=1)[0]
    assert_matches_golden(
        {**entry, "dag_id": "example_bash_operator", "event": "api.post_dag_run"},
        500,
        also_volatile=("$.extra",),
    )
    assert json.loads(entry["extra"]) == {"key": "golden_var", "value": "hello", "description": "recorded"}
    assert logged.get(f"{V1}/eventLogs/{entry['event_log_id']}").json() == entry


def test_sensitive_variable_values_are_masked_in_the_log(logged):
    extras = [json.loads(e["extra"]) for e in events(logged, event="api.variable.create")]
    recorded = exchange(484)["response"]["body"]["event_logs"]
    assert extras == [json.loads(recorded[0]["extra"]), json.loads(recorded[1]["extra"])]
    assert extras[1] == {"key": "my_password", "value": "***"}


def test_try_number_and_task_filters_select_the_task_rows(logged):
    found = events(logged, dag_id="tutorial_taskflow_api", task_id="load", try_number=2)
    assert [(e["event"], e["try_number"]) for e in found] == [("running", 2), ("success", 2)]
    assert_matches_golden({"event_logs": found, "total_entries": 2}, 491)


def test_map_index_zero_filters_too(logged):
    found = events(logged, dag_id="example_dynamic_task_mapping", map_index=0)
    assert [(e["task_id"], e["map_index"]) for e in found] == [("add_one", 0)]
    assert events(logged, map_index=-1, run_id="golden_taskflow_1", event="success")[0]["try_number"] == 1


def test_included_and_excluded_events_take_comma_lists(logged):
    included = events(logged, included_events="api.post_pool,success")
    assert {e["event"] for e in included} == {"api.post_pool", "success"}
    excluded = events(logged, excluded_events="running,success")
    assert {e["event"] for e in excluded} == {"api.variable.create", "api.post_pool"}


def test_owner_before_after_and_ordering(logged):
    assert {e["event"] for e in events(logged, owner="airflow")} == {"running", "success"}
    assert events(logged, before="2000-01-01T00:00:00Z") == []
    assert len(events(logged, after="2000-01-01T00:00:00+00:00")) == 8
    newest = events(logged, order_by="-when", limit=1)[0]
    assert newest == events(logged, order_by="-event_log_id", limit=1)[0]
    by_extra = events(logged, order_by="extra")
    assert [e["extra"] for e in by_extra if e["extra"]] == sorted(e["extra"] for e in by_extra if e["extra"])


def test_limit_is_capped_and_total_counts_every_match(logged):
    body = logged.get(f"{V1}/eventLogs", params={"limit": 2, "offset": 1}).json()
    assert len(body["event_logs"]) == 2
    assert body["total_entries"] == 8


@pytest.mark.parametrize("seq", [495, 496, 498, 499, 501, 502])
def test_errors_are_airflows(client, seq):
    check(client, seq)


def test_an_id_no_database_can_hold_is_a_404(client):
    response = client.get(f"{V1}/eventLogs/{2**70}")
    assert response.status_code == 404
    assert response.json()["title"] == "Event Log not found"


def test_changes_from_the_cli_show_the_os_user_as_owner(client, app_settings):
    with session_scope(app_settings.database_url) as session:
        audit.record(session, audit.POOL_CREATE, target="p", extra={"slots": 1}, **audit.cli_actor())
    entry = events(client, event="pool.create")[0]
    assert entry["owner"] and entry["owner"] != "cli"
    assert entry["extra"] == '{"slots": 1}'
    assert events(client, owner=entry["owner"], event="pool.create") == [entry]


def test_a_limit_above_the_maximum_is_capped(logged):
    assert replay(logged, 497).status_code == 200


def test_an_audit_row_naming_an_overlong_id_is_cut_to_its_column(client, app_settings):
    with session_scope(app_settings.database_url) as session:
        audit.record(session, "api.patch_dag", username="anonymous", remote_addr=None, dag_id="d" * 300, run_id="r\x00")
    entry = events(client, event="api.patch_dag")[0]
    assert entry["dag_id"] == "d" * 250
    assert entry["run_id"] == "r\ufffd"

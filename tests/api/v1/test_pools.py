"""/api/v1/pools, replayed from Airflow 2.10.5's golden transcript (pools.json): the experimental API's pools,
with Airflow's slot counts and its create, patch and delete rules."""

from __future__ import annotations

import json

import pytest

from slipstream.services import pools as pool_service
from slipstream.storage.db import session_scope
from slipstream.storage.models import DagRun, TaskInstance
from tests.api.v1._replay import check, replay
from tests.api.v1.golden import exchange

V1 = "/api/v1"
# The example DAGs' database also holds the pool example_pool needs, so lists differ; Airflow answers
# a 500 for slots -1 (386, 387), Slipstream an unlimited pool.
NOT_REPLAYED = (376, 386, 387, 388, 389, 405)


def _without_example_pool(body: dict) -> dict:
    kept = [p for p in body["pools"] if p["name"] != "example_single_slot_pool"]
    return {"pools": kept, "total_entries": body["total_entries"] - (len(body["pools"]) - len(kept))}


def test_the_pools_transcript_replays_as_airflow_answered(client):
    for seq in range(376, 406):
        if seq not in NOT_REPLAYED:
            check(client, seq)


@pytest.mark.parametrize("seq, url", [(376, "/api/v1/pools"), (388, "/api/v1/pools?order_by=-slots")])
def test_lists_hold_airflows_pools_beside_the_example_pool(client, seq, url):
    for created in (379, 380):
        replay(client, created)
    body = client.get(url).json()
    expected = exchange(seq)["response"]["body"]
    if seq == 376:  # recorded before the pools were created
        body = {"pools": [p for p in body["pools"] if p["name"] == "default_pool"], "total_entries": 1}
    assert _without_example_pool(body) == expected


def test_limit_and_offset_page_through_by_id(client):
    for created in (379, 380):
        replay(client, created)
    body = client.get(f"{V1}/pools", params={"limit": 1, "offset": 2}).json()
    assert body["total_entries"] == 4  # default_pool, example_single_slot_pool, golden_pool, golden_pool_2
    assert body["pools"] == exchange(389)["response"]["body"]["pools"]


def test_an_unlimited_pool_answers_open_slots_minus_one(client):
    response = replay(client, 386)
    assert response.status_code == 200
    assert response.json()["slots"] == -1
    assert response.json()["open_slots"] == -1
    assert client.get(f"{V1}/pools/golden_pool_neg").json()["open_slots"] == -1
    assert (
        client.post(f"{V1}/pools", json={"name": "worse", "slots": -2}).json()["detail"] == "Bad value for `slots`: -2"
    )


def test_slot_counts_come_from_the_task_instances_in_the_pool(client, app_settings):
    replay(client, 379)  # golden_pool: 3 slots
    client.patch(f"{V1}/pools/golden_pool", params={"update_mask": "include_deferred"}, json={"include_deferred": True})
    with session_scope(app_settings.database_url) as session:
        session.add(DagRun(dag_id="example_bash_operator", run_id="r", execution_date=_date(), state="running"))
        for task_id, state, slots in (
            ("a", "running", 1),
            ("b", "queued", 1),
            ("c", "deferred", 1),
            ("d", "scheduled", 2),
        ):
            session.add(
                TaskInstance(
                    dag_id="example_bash_operator",
                    run_id="r",
                    task_id=task_id,
                    state=state,
                    pool="golden_pool",
                    pool_slots=slots,
                )
            )
    body = client.get(f"{V1}/pools/golden_pool").json()
    assert {k: v for k, v in body.items() if k.endswith("_slots")} == {
        "deferred_slots": 1,
        "occupied_slots": 3,
        "open_slots": 0,
        "queued_slots": 1,
        "running_slots": 1,
        "scheduled_slots": 2,
    }
    # The experimental API sees the same pool.
    assert client.get("/api/experimental/pools/golden_pool").json()["slots"] == 3


def _date():
    from datetime import UTC, datetime

    return datetime(2024, 1, 1, tzinfo=UTC)


def test_renaming_onto_another_pool_is_a_409_and_changes_nothing(client):
    for created in (379, 380):
        replay(client, created)
    response = client.patch(f"{V1}/pools/golden_pool_2", json={"name": "golden_pool", "slots": 1})
    assert response.status_code == 409
    assert response.json()["detail"] == "Pool: golden_pool already exists"
    assert client.get(f"{V1}/pools/golden_pool_2").json()["slots"] == 0


def test_a_mask_naming_a_field_the_body_lacks_is_a_400(client):
    replay(client, 379)
    response = client.patch(f"{V1}/pools/golden_pool", params={"update_mask": "description"}, json={"slots": 2})
    assert response.status_code == 400
    assert "description" in response.json()["detail"]


def test_changes_are_logged_with_path_query_and_body(client):
    for seq in (379, 382, 392, 401, 402):
        replay(client, seq)
    logged = client.get(f"{V1}/eventLogs", params={"included_events": "api.post_pool,api.patch_pool,api.delete_pool"})
    extras = [(e["event"], json.loads(e["extra"])) for e in logged.json()["event_logs"]]
    assert extras == [
        ("api.post_pool", {"name": "golden_pool", "slots": 3, "description": "golden", "include_deferred": False}),
        ("api.post_pool", {"name": "golden_pool_x"}),
        (
            "api.patch_pool",
            {
                "update_mask": "slots",
                "pool_name": "golden_pool",
                "name": "golden_pool",
                "slots": 7,
                "description": "ignored",
            },
        ),
        ("api.delete_pool", {"pool_name": "default_pool"}),
        ("api.delete_pool", {"pool_name": "golden_pool_2"}),
    ]


def test_the_service_is_the_experimental_apis(app_settings):
    with session_scope(app_settings.database_url) as session:
        assert pool_service.find_pool(session, "default_pool").slots == 128

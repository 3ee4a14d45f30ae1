"""/api/v1/variables, replayed from Airflow 2.10.5's golden transcript (variables.json), and the audit rows."""

from __future__ import annotations

import json

import pytest

from tests.api.v1._replay import check, replay

V1 = "/api/v1"


def test_the_whole_variables_transcript_replays_as_airflow_answered(client):
    for seq in range(315, 350):
        if seq == 327:
            continue  # order_by=value: Airflow orders by the encrypted text, Slipstream by the clear text
        check(client, seq)


def test_order_by_value_orders_by_the_clear_text(client):
    for seq in (316, 317, 318, 319):
        replay(client, seq)
    body = client.get(f"{V1}/variables", params={"order_by": "value"}).json()
    assert [v["value"] for v in body["variables"]] == sorted(v["value"] for v in body["variables"])
    body = client.get(f"{V1}/variables", params={"order_by": "-value", "limit": 1}).json()
    assert body["variables"][0]["value"] == '{"a": 1, "b": [1, 2]}'
    assert body["total_entries"] == 4


def _event_logs(client, event: str) -> list[dict]:
    return client.get(f"{V1}/eventLogs", params={"event": event}).json()["event_logs"]


def test_changes_are_logged_with_the_value_masked_for_sensitive_keys(client):
    for seq in (316, 317, 321, 336, 346, 348):
        replay(client, seq)
    created = _event_logs(client, "api.variable.create")
    assert [json.loads(e["extra"]) for e in created] == [
        {"key": "golden_var", "value": "hello", "description": "recorded"},
        {"key": "my_password", "value": "***"},
        {"key": "golden_novalue"},  # refused by the handler (400), logged all the same
    ]
    assert {e["owner"] for e in created} == {"anonymous"}
    edited = _event_logs(client, "api.variable.edit")
    assert json.loads(edited[0]["extra"]) == {
        "key": "golden_var",
        "value": "patched",
        "description": "patched description",
    }
    deleted = _event_logs(client, "api.variable.delete")
    assert [json.loads(e["extra"]) for e in deleted] == [{"variable_key": "golden_json"}] * 2


def test_a_body_connexion_refuses_is_not_logged(client):
    assert replay(client, 323).status_code == 400  # value not a string
    assert _event_logs(client, "api.variable.create") == []


def test_a_key_with_a_slash_reads_raw_or_encoded(client):
    replay(client, 319)
    assert client.get(f"{V1}/variables/golden/nested").json()["value"] == "slash"
    assert client.get(f"{V1}/variables/golden%2Fnested").json()["value"] == "slash"
    assert client.delete(f"{V1}/variables/golden/nested").status_code == 204
    assert client.get(f"{V1}/variables/golden/nested").status_code == 404


@pytest.mark.parametrize(
    "body, detail",
    [
        ({"key": "", "value": "x"}, "Variable key shouldn't be empty"),
        ({"key": "nul", "value": "a\x00b"}, "Variable nul can't contain NUL characters"),
        ({"key": "k" * 251, "value": "x"}, "Variable key can't be more than 250 characters"),
    ],
)
def test_values_no_database_can_store_are_a_400(client, body, detail):
    response = client.post(f"{V1}/variables", json=body)
    assert response.status_code == 400
    assert response.json()["detail"] == detail


def test_patch_with_update_mask_needs_the_masked_field_in_the_body(client):
    replay(client, 316)
    response = client.patch(f"{V1}/variables/golden_var", params={"update_mask": "val"}, json={"key": "golden_var"})
    assert response.status_code == 400
    assert response.json()["title"] == "Invalid Variable schema"
    response = client.patch(
        f"{V1}/variables/golden_var",
        params={"update_mask": "val,description"},
        json={"key": "golden_var", "value": "v2"},
    )
    assert response.json()["detail"] == "'description' is unknown or cannot be updated."
    assert client.get(f"{V1}/variables/golden_var").json()["value"] == "hello"  # nothing changed

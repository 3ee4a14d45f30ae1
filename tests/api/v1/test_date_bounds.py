"""Every date-time the stable API takes, at the edges of what can be stored: an instant outside the years
1 to 9999 in UTC (0001-01-01T00:00:00+01:00 is in year 0 there) is a 400 naming the value, never a 500."""

from __future__ import annotations

import urllib.parse

import pytest

V1 = "/api/v1"
BASH = "example_bash_operator"
OUT_OF_RANGE = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59.999999-23:59"]
RANGE_FILTERS = [f"{name}_{side}" for name in ("execution_date", "start_date", "end_date") for side in ("gte", "lte")]

QUERIES = [
    *((f"{V1}/dags/~/dagRuns", name) for name in [*RANGE_FILTERS, "updated_at_gte", "updated_at_lte"]),
    *((f"{V1}/dags/~/dagRuns/~/taskInstances", name) for name in [*RANGE_FILTERS, "updated_at_gte", "updated_at_lte"]),
    *((f"{V1}/dags/{BASH}/dagRuns/~/taskInstances/runme_0/listMapped", name) for name in RANGE_FILTERS),
    (f"{V1}/eventLogs", "before"),
    (f"{V1}/eventLogs", "after"),
    (f"{V1}/datasets/queuedEvent/s3%3A%2F%2Fnowhere", "before"),
    (f"{V1}/dags/{BASH}/datasets/queuedEvent", "before"),
]
BODIES = [
    *((f"{V1}/dags/~/dagRuns/list", {}, name) for name in RANGE_FILTERS),
    *((f"{V1}/dags/~/dagRuns/~/taskInstances/list", {}, name) for name in RANGE_FILTERS),
    (f"{V1}/dags/{BASH}/dagRuns", {}, "logical_date"),
    (f"{V1}/dags/{BASH}/clearTaskInstances", {"dry_run": True}, "start_date"),
    (f"{V1}/dags/{BASH}/clearTaskInstances", {"dry_run": True}, "end_date"),
    (
        f"{V1}/dags/{BASH}/updateTaskInstancesState",
        {
            "task_id": "runme_0",
            "new_state": "success",
            "dry_run": True,
            **dict.fromkeys(("include_upstream", "include_downstream", "include_future", "include_past"), False),
        },
        "execution_date",
    ),
]


def _refused(response, value: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == f"'{value}' is outside the dates Slipstream stores (years 1 to 9999 in UTC)"


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize(("path", "name"), QUERIES)
def test_a_query_date_outside_what_is_stored_is_a_400(client, path, name, value):
    _refused(client.get(f"{path}?{name}={urllib.parse.quote(value)}"), value)


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize(("path", "body", "name"), BODIES)
def test_a_body_date_outside_what_is_stored_is_a_400(client, path, body, name, value):
    _refused(client.post(path, json={**body, name: value}), value)


@pytest.mark.parametrize("path", [f"{V1}/dags/~/dagRuns", f"{V1}/dags/~/dagRuns/~/taskInstances", f"{V1}/eventLogs"])
def test_the_first_and_last_instants_stored_are_accepted(client, path):
    name = "before" if path.endswith("eventLogs") else "start_date_gte"
    for value in ("0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59.999999+00:00"):
        response = client.get(f"{path}?{name}={urllib.parse.quote(value)}")
        assert response.status_code == 200, response.text

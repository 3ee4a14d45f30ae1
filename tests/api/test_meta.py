"""GET /test, GET /info, GET /latest_runs."""

from __future__ import annotations

from datetime import UTC, datetime

from slipstream import __version__
from tests.api.support import BASE, BASH_DAG, assert_json, insert_run, update_run


class TestGetTest:
    def test_answers_ok(self, client):
        assert_json(client.get(f"{BASE}/test"), 200, {"status": "OK"})

    def test_has_no_deprecation_headers(self, client):
        response = client.get(f"{BASE}/test")
        assert "deprecation" not in response.headers
        assert "link" not in response.headers


class TestGetInfo:
    def test_answers_the_version(self, client):
        assert_json(client.get(f"{BASE}/info"), 200, {"version": __version__})


class TestGetLatestRuns:
    def test_no_runs_gives_empty_items(self, client):
        assert_json(client.get(f"{BASE}/latest_runs"), 200, {"items": []})

    def test_one_item_per_dag_the_latest_execution_date_in_any_state_ordered_by_dag_id(self, client, app_settings):
        insert_run(app_settings, BASH_DAG, "old", datetime(2022, 1, 1, tzinfo=UTC), state="running")
        insert_run(app_settings, BASH_DAG, "new", datetime(2022, 3, 4, 5, 6, 7, tzinfo=UTC), state="failed")
        insert_run(app_settings, BASH_DAG, "mid", datetime(2022, 2, 1, tzinfo=UTC), state="success")
        insert_run(app_settings, "example_pool", "p1", datetime(2023, 1, 1, 0, 0, 0, 500000, tzinfo=UTC))
        update_run(app_settings, "example_pool", "p1", start_date=datetime(2023, 1, 1, 0, 0, 1, 250, tzinfo=UTC))
        insert_run(app_settings, "example_python_operator", "x", datetime(2021, 6, 1, tzinfo=UTC))

        assert_json(
            client.get(f"{BASE}/latest_runs"),
            200,
            {
                "items": [
                    {
                        "dag_id": "example_bash_operator",
                        "execution_date": "2022-03-04T05:06:07+00:00",
                        "start_date": "",
                        "dag_run_url": "/dags/example_bash_operator/graph?execution_date="
                        "2022-03-04+05%3A06%3A07%2B00%3A00",
                    },
                    {
                        "dag_id": "example_pool",
                        "execution_date": "2023-01-01T00:00:00.500000+00:00",
                        "start_date": "2023-01-01T00:00:01.000250+00:00",
                        "dag_run_url": "/dags/example_pool/graph?execution_date="
                        "2023-01-01+00%3A00%3A00.500000%2B00%3A00",
                    },
                    {
                        "dag_id": "example_python_operator",
                        "execution_date": "2021-06-01T00:00:00+00:00",
                        "start_date": "",
                        "dag_run_url": "/dags/example_python_operator/graph?execution_date="
                        "2021-06-01+00%3A00%3A00%2B00%3A00",
                    },
                ]
            },
        )

    def test_a_triggered_run_shows_up(self, client):
        triggered = client.post(
            f"{BASE}/dags/{BASH_DAG}/dag_runs", json={"execution_date": "2022-03-05T10:00:00+02:00"}
        )
        assert triggered.status_code == 200

        assert_json(
            client.get(f"{BASE}/latest_runs"),
            200,
            {
                "items": [
                    {
                        "dag_id": BASH_DAG,
                        "execution_date": "2022-03-05T08:00:00+00:00",
                        "start_date": "",
                        "dag_run_url": f"/dags/{BASH_DAG}/graph?execution_date=2022-03-05+08%3A00%3A00%2B00%3A00",
                    }
                ]
            },
        )

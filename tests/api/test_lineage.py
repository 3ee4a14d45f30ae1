"""GET /lineage/{dag_id}/{execution_date}: what the run's task instances recorded when they ran."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest

from tests.api.support import (
    BASE,
    BASH_DAG,
    INVALID_DATE,
    assert_error,
    assert_json,
    trigger,
    update_task_instance,
)

RUN_DATE = "2022-03-04T05:06:07+00:00"


def url(date: str = RUN_DATE, dag_id: str = BASH_DAG) -> str:
    return f"{BASE}/lineage/{dag_id}/{date}"


class TestGetLineage:
    @pytest.fixture
    def run(self, client):
        assert trigger(client, {"run_id": "r", "execution_date": RUN_DATE}).status_code == 200

    def test_a_run_whose_tasks_have_not_run(self, client, run):
        assert_json(
            client.get(url()),
            200,
            {"message": f"Lineage for DAG {BASH_DAG} at 2022-03-04 05:06:07+00:00", "task_ids": {}},
        )

    def test_what_task_instances_recorded(self, client, app_settings, run):
        file_in = "airflow.lineage.entities.File@version=0(url=/tmp/in.csv)"
        update_task_instance(
            app_settings, BASH_DAG, "r", "runme_0", lineage={"inlets": [file_in], "outlets": ["s3://b/out", "t"]}
        )
        update_task_instance(app_settings, BASH_DAG, "r", "also_run_this", lineage={"outlets": ["x"]})
        # Recorded but empty, or nothing recorded at all: not listed.
        update_task_instance(app_settings, BASH_DAG, "r", "run_after_loop", lineage={"inlets": [], "outlets": []})
        update_task_instance(app_settings, BASH_DAG, "r", "runme_1", lineage={})

        assert_json(
            client.get(url(date=quote_plus("2022-03-04T07:06:07+02:00"))),
            200,
            {
                "message": f"Lineage for DAG {BASH_DAG} at 2022-03-04 07:06:07+02:00",
                "task_ids": {
                    "also_run_this": {"outlets": ["x"]},
                    "runme_0": {"inlets": [file_in], "outlets": ["s3://b/out", "t"]},
                },
            },
        )

    def test_only_this_runs_task_instances(self, client, app_settings, run):
        assert trigger(client, {"run_id": "other", "execution_date": "2022-03-05"}).status_code == 200
        update_task_instance(app_settings, BASH_DAG, "other", "runme_0", lineage={"inlets": ["a"]})

        assert client.get(url()).json()["task_ids"] == {}
        assert client.get(url(date="2022-03-05")).json()["task_ids"] == {"runme_0": {"inlets": ["a"]}}

    def test_unknown_dag(self, client):
        assert_error(client.get(url(dag_id="nope")), 404, "Dag id nope not found in DagModel")

    def test_no_run_at_that_date(self, client, run):
        assert_error(
            client.get(url(date="1990-01-01")),
            404,
            f"Dag Run for date 1990-01-01 00:00:00+00:00 not found in dag {BASH_DAG}",
        )

    @pytest.mark.parametrize("raw", ["bad", "not_a_datetime", "2024-13-01", "9999-12-31T23:00:00-05:00"])
    def test_bad_date(self, client, raw):
        assert_error(client.get(url(date=raw)), 400, INVALID_DATE.format(raw=raw))

    def test_the_date_is_checked_before_the_dag(self, client):
        assert_error(client.get(url(date="bad", dag_id="nope")), 400, INVALID_DATE.format(raw="bad"))

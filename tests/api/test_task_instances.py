"""GET /dags/{dag_id}/dag_runs/{execution_date}/tasks/{task_id}: a task instance, every value a string."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote_plus

import pytest

from tests.api.support import (
    BASE,
    BASH_DAG,
    INVALID_DATE,
    STR_DATETIME,
    assert_error,
    assert_json,
    delete_task_instance,
    read_run,
    read_task_instance,
    trigger,
    update_task_instance,
)

# Airflow 2.10.5's keys (reference §4.6); Slipstream adds execution_date, which 1.10's clients read.
AIRFLOW_2_10_5_KEYS = {
    "custom_operator_name",
    "dag_id",
    "dag_run",
    "duration",
    "end_date",
    "executor",
    "executor_config",
    "external_executor_id",
    "hostname",
    "job_id",
    "map_index",
    "max_tries",
    "next_kwargs",
    "next_method",
    "operator",
    "pid",
    "pool",
    "pool_slots",
    "priority_weight",
    "queue",
    "queued_by_job_id",
    "queued_dttm",
    "rendered_map_index",
    "rendered_task_instance_fields",
    "run_id",
    "start_date",
    "state",
    "task_id",
    "test_mode",
    "trigger_id",
    "trigger_timeout",
    "try_number",
    "unixname",
    "updated_at",
}
RUN_DATE = "2022-03-04T05:06:07+00:00"


def url(date: str = RUN_DATE, task_id: str = "also_run_this", dag_id: str = BASH_DAG) -> str:
    return f"{BASE}/dags/{dag_id}/dag_runs/{date}/tasks/{task_id}"


class TestGetTaskInstance:
    @pytest.fixture
    def run(self, client, app_settings):
        assert trigger(client, {"run_id": "r", "execution_date": RUN_DATE}).status_code == 200
        return read_run(app_settings, BASH_DAG, "r")

    def test_before_the_scheduler_ran(self, client, app_settings, run):
        ti = read_task_instance(app_settings, BASH_DAG, "r", "also_run_this")

        assert_json(
            client.get(url()),
            200,
            {
                "custom_operator_name": "BashOperator",
                "dag_id": BASH_DAG,
                "dag_run": f"<DagRun {BASH_DAG} @ 2022-03-04 05:06:07+00:00: r, state:queued, "
                f"queued_at: {run.queued_at}. externally triggered: True>",
                "duration": "None",
                "end_date": "None",
                "execution_date": "2022-03-04 05:06:07+00:00",
                "executor": "None",
                "executor_config": "{}",
                "external_executor_id": "None",
                "hostname": "",
                "job_id": "None",
                "map_index": "-1",
                "max_tries": "0",
                "next_kwargs": "None",
                "next_method": "None",
                "operator": "BashOperator",
                "pid": "None",
                "pool": "default_pool",
                "pool_slots": "1",
                "priority_weight": "2",
                "queue": "default",
                "queued_by_job_id": "None",
                "queued_dttm": "None",
                "rendered_map_index": "None",
                "rendered_task_instance_fields": "None",
                "run_id": "r",
                "start_date": "None",
                "state": "None",
                "task_id": "also_run_this",
                "test_mode": "False",
                "trigger_id": "None",
                "trigger_timeout": "None",
                "try_number": "0",
                "unixname": "",
                "updated_at": str(ti.updated_at),
            },
        )
        assert STR_DATETIME.match(str(ti.updated_at))

    def test_key_set_is_airflow_2_10_5_plus_execution_date_and_every_value_a_string(self, client, run):
        body = client.get(url(task_id="runme_0")).json()

        assert set(body) == AIRFLOW_2_10_5_KEYS | {"execution_date"}
        assert all(isinstance(value, str) for value in body.values())
        assert body["priority_weight"] == "3"

    def test_after_the_task_ran(self, client, app_settings, run):
        update_task_instance(
            app_settings,
            BASH_DAG,
            "r",
            "also_run_this",
            state="success",
            try_number=1,
            start_date=datetime(2022, 3, 4, 5, 6, 8, 491668, tzinfo=UTC),
            end_date=datetime(2022, 3, 4, 5, 6, 9, tzinfo=UTC),
            duration=0.129841,
            hostname="worker-1",
            unixname="slipstream",
            pid=4242,
            job_id=7,
        )

        body = client.get(url()).json()

        assert {key: body[key] for key in ("state", "try_number", "start_date", "end_date", "duration")} == {
            "state": "success",
            "try_number": "1",
            "start_date": "2022-03-04 05:06:08.491668+00:00",
            "end_date": "2022-03-04 05:06:09+00:00",
            "duration": "0.129841",
        }
        assert {key: body[key] for key in ("hostname", "unixname", "pid", "job_id")} == {
            "hostname": "worker-1",
            "unixname": "slipstream",
            "pid": "4242",
            "job_id": "7",
        }

    @pytest.mark.parametrize(
        "date",
        [RUN_DATE, quote_plus(RUN_DATE), "2022-03-04T07:06:07+02:00", "2022-03-04 05:06:07", "2022-03-04T05:06:07Z"],
    )
    def test_any_spelling_of_the_instant(self, client, run, date):
        response = client.get(url(date=date))

        assert response.status_code == 200
        assert response.json()["run_id"] == "r"

    def test_airflow_now_without_microseconds(self, client):
        response = trigger(client, {})
        assert response.status_code == 200

        check = client.get(url(date=quote_plus(response.json()["execution_date"])))

        assert check.status_code == 200
        assert check.json()["state"] == "None"
        assert "error" not in check.json()

    # -- errors, in Airflow's order: date, DAG, task, run, instance -------------------------------

    @pytest.mark.parametrize("raw", ["not_a_datetime", "bad", "2024-13-01", "9999-12-31T23:00:00-05:00", "1" * 5000])
    def test_bad_date(self, client, run, raw):
        assert_error(client.get(url(date=raw)), 400, INVALID_DATE.format(raw=raw))

    def test_bad_date_wins_over_unknown_dag_and_task(self, client):
        assert_error(client.get(url(date="bad", task_id="x", dag_id="nope")), 400, INVALID_DATE.format(raw="bad"))

    def test_unknown_dag(self, client):
        assert_error(client.get(url(dag_id="nope", task_id="x")), 404, "Dag id nope not found in DagModel")

    def test_unknown_task(self, client, run):
        assert_error(client.get(url(task_id="nope")), 404, f"Task nope not found in dag {BASH_DAG}")

    def test_unknown_task_wins_over_missing_run(self, client):
        assert_error(client.get(url(date="1990-01-01", task_id="nope")), 404, f"Task nope not found in dag {BASH_DAG}")

    def test_no_run_at_that_date(self, client, run):
        assert_error(
            client.get(url(date="1990-01-01T01:01:01")),
            404,
            f"Dag Run for date 1990-01-01 01:01:01+00:00 not found in dag {BASH_DAG}",
        )

    def test_run_without_that_task_instance(self, client, app_settings, run):
        delete_task_instance(app_settings, BASH_DAG, "r", "also_run_this")

        assert_error(
            client.get(url(date="2022-03-04T07:06:07+02:00")),
            404,
            "Task also_run_this instance for date 2022-03-04 07:06:07+02:00 not found",
        )

    def test_run_before_the_task_start_date_has_no_instances(self, client):
        # The DAG's tasks start on 2021-01-01: a run dated earlier gets no task instances.
        assert trigger(client, {"execution_date": "2020-01-01"}).status_code == 200

        assert_error(
            client.get(url(date="2020-01-01")),
            404,
            "Task also_run_this instance for date 2020-01-01 00:00:00+00:00 not found",
        )

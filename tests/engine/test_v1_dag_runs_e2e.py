"""The stable API's run operations on real runs: a cleared run runs again, a marked run stops its tasks,
and an event posted to /datasets/events triggers the DAGs scheduled on its dataset."""

from __future__ import annotations

import pytest

from slipstream.api.app import create_app
from tests.engine.support import add_dag, read_log, read_runs, task_instances, ti_states, wait_for, wait_for_run

V1 = "/api/v1"
DAGS = """
from datetime import timedelta

import pendulum

from airflow.datasets import Dataset
from airflow.models.dag import DAG
from airflow.operators.bash import BashOperator

start = pendulum.datetime(2024, 1, 1, tz="UTC")
lake = Dataset("s3://lake/v1.csv")

with DAG("v1_quick", schedule=None, start_date=start):
    BashOperator(task_id="first", bash_command="echo one") >> BashOperator(task_id="second", bash_command="echo two")

with DAG("v1_slow", schedule=None, start_date=start):
    BashOperator(task_id="sleeper", bash_command="sleep 60") >> BashOperator(task_id="after", bash_command="echo x")

with DAG("v1_restart", schedule=None, start_date=start):
    BashOperator(
        task_id="sleeper",
        bash_command='[ "$AIRFLOW_CTX_TRY_NUMBER" = "1" ] && sleep 60; echo "try $AIRFLOW_CTX_TRY_NUMBER"',
        retry_delay=timedelta(seconds=1),
    )

with DAG("v1_consumer", schedule=[lake], start_date=start):
    BashOperator(task_id="consume", bash_command="echo consumed")
"""


@pytest.fixture
def api(engine_settings, scheduler):
    settings = engine_settings.with_overrides(auth_backend="default")
    add_dag(settings, "v1_dags", DAGS)
    return create_app(settings).test_client()


def test_a_cleared_run_runs_again(api, engine_settings):
    run = api.post(f"{V1}/dags/v1_quick/dagRuns", json={"dag_run_id": "again"}).json()
    assert run["state"] == "queued"
    [queued] = read_runs(engine_settings, "v1_quick")
    assert wait_for_run(engine_settings, "v1_quick", "again") == "success"
    # The scheduler's state changes keep updated_at current (the list's updated_at filters rely on it).
    [finished] = read_runs(engine_settings, "v1_quick")
    assert finished.updated_at > queued.updated_at >= queued.queued_at
    since = finished.updated_at.isoformat().replace("+", "%2B")
    listed = api.get(f"{V1}/dags/v1_quick/dagRuns?updated_at_gte={since}").json()
    assert [r["dag_run_id"] for r in listed["dag_runs"]] == ["again"]

    dry = api.post(f"{V1}/dags/v1_quick/dagRuns/again/clear", json={}).json()
    assert [ti["task_id"] for ti in dry["task_instances"]] == ["first", "second"]
    cleared = api.post(f"{V1}/dags/v1_quick/dagRuns/again/clear", json={"dry_run": False}).json()
    assert cleared["state"] == "queued" and cleared["end_date"] is None

    wait_for(
        lambda: all(
            ti.try_number == 2 and ti.state == "success"
            for ti in task_instances(engine_settings, "v1_quick", "again").values()
        ),
        30,
        "both tasks to run a second time",
    )
    assert wait_for_run(engine_settings, "v1_quick", "again") == "success"
    assert api.get(f"{V1}/dags/v1_quick/dagRuns/again").json()["state"] == "success"


def test_marking_a_running_run_failed_stops_its_task_and_skips_the_rest(api, engine_settings):
    api.post(f"{V1}/dags/v1_slow/dagRuns", json={"dag_run_id": "stopped"})
    wait_for(lambda: ti_states(engine_settings, "v1_slow", "stopped").get("sleeper") == "running", 30, "the sleeper")

    marked = api.patch(f"{V1}/dags/v1_slow/dagRuns/stopped", json={"state": "failed"}).json()
    assert marked["state"] == "failed" and marked["end_date"] is not None
    assert ti_states(engine_settings, "v1_slow", "stopped") == {"sleeper": "failed", "after": "skipped"}
    # The task process sees its state changed and ends well before its 60 s; the mark stands.
    wait_for(
        lambda: "externally set to failed" in read_log(engine_settings, "v1_slow", "stopped", "sleeper"),
        20,
        "the sleeper to be terminated",
    )
    assert wait_for_run(engine_settings, "v1_slow", "stopped", timeout=5) == "failed"

    # Queued again (with its instances as they are) the scheduler takes it up, and decides it from them.
    api.patch(f"{V1}/dags/v1_slow/dagRuns/stopped", json={"state": "queued"})
    api.post(f"{V1}/dags/v1_slow/dagRuns/stopped/clear", json={"dry_run": False})
    wait_for(lambda: ti_states(engine_settings, "v1_slow", "stopped").get("sleeper") == "running", 30, "a second try")
    api.patch(f"{V1}/dags/v1_slow/dagRuns/stopped", json={"state": "success"})
    assert ti_states(engine_settings, "v1_slow", "stopped") == {"sleeper": "success", "after": "success"}
    assert wait_for_run(engine_settings, "v1_slow", "stopped", timeout=5) == "success"


def test_clearing_a_running_try_restarts_it_as_a_retry(api, engine_settings):
    api.post(f"{V1}/dags/v1_restart/dagRuns", json={"dag_run_id": "restart"})
    wait_for(lambda: ti_states(engine_settings, "v1_restart", "restart").get("sleeper") == "running", 30, "try 1")

    cleared = api.post(f"{V1}/dags/v1_restart/dagRuns/restart/clear", json={"dry_run": False}).json()
    assert cleared["state"] == "running"  # a running run carries on; only finished runs are queued again
    # Restarting: its supervisor terminates the try (within a heartbeat), which goes up for retry
    # although the task has no retries.
    wait_for(
        lambda: "externally set to restarting" in read_log(engine_settings, "v1_restart", "restart", "sleeper"),
        20,
        "try 1 to be terminated",
    )
    assert wait_for_run(engine_settings, "v1_restart", "restart") == "success"
    first = read_log(engine_settings, "v1_restart", "restart", "sleeper")
    assert "Marking task as UP_FOR_RETRY" in first and "Marking task as FAILED" not in first
    ti = task_instances(engine_settings, "v1_restart", "restart")["sleeper"]
    assert (ti.state, ti.try_number) == ("success", 2)
    assert "try 2" in read_log(engine_settings, "v1_restart", "restart", "sleeper", 2)
    tries = api.get(f"{V1}/dags/v1_restart/dagRuns/restart/taskInstances/sleeper/tries").json()
    assert [(t["try_number"], t["state"]) for t in tries["task_instances"]] == [(1, "failed"), (2, "success")]


def test_a_posted_dataset_event_triggers_the_consumer(api, engine_settings):
    event = api.post(f"{V1}/datasets/events", json={"dataset_uri": "s3://lake/v1.csv", "extra": {"rows": 3}}).json()
    assert event["extra"] == {"rows": 3, "from_rest_api": True}

    runs = wait_for(lambda: api.get(f"{V1}/dags/v1_consumer/dagRuns").json()["dag_runs"], 30, "a dataset-triggered run")
    [run] = runs
    assert run["run_type"] == "dataset_triggered" and run["external_trigger"] is False
    assert wait_for_run(engine_settings, "v1_consumer", run["dag_run_id"]) == "success"

    upstream = api.get(f"{V1}/dags/v1_consumer/dagRuns/{run['dag_run_id']}/upstreamDatasetEvents").json()
    assert upstream["total_entries"] == 1
    [consumed] = upstream["dataset_events"]
    assert consumed["id"] == event["id"] and consumed["dataset_uri"] == "s3://lake/v1.csv"
    assert [r["dag_run_id"] for r in consumed["created_dagruns"]] == [run["dag_run_id"]]
    listed = api.get(f"{V1}/datasets/events").json()["dataset_events"]
    assert listed[0]["created_dagruns"][0]["dag_id"] == "v1_consumer"

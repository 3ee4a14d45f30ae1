"""Clearing through ExternalTaskMarkers on real runs (Airflow's DAG.clear with include_dependent_dags):
the stable API's run clear and clearTaskInstances (with include_subdags) reach the external DAG's task
and its downstream in the run at the marker's logical date, recursively, up to recursion_depth."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from slipstream.api.app import create_app
from tests.engine.support import add_dag, task_instances, trigger, wait_for, wait_for_run

V1 = "/api/v1"
WHEN = datetime(2024, 6, 1, tzinfo=UTC)
DAGS = """
import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.sensors.external_task import ExternalTaskMarker

START = pendulum.datetime(2024, 1, 1, tz="UTC")

with DAG("marker_parent", schedule=None, start_date=START):
    BashOperator(task_id="build", bash_command="echo build") >> ExternalTaskMarker(
        task_id="tell_child", external_dag_id="marker_child", external_task_id="receive"
    )

with DAG("marker_child", schedule=None, start_date=START):
    before = BashOperator(task_id="before", bash_command="echo before")
    receive = BashOperator(task_id="receive", bash_command="echo receive")
    after = BashOperator(task_id="after", bash_command="echo after")
    tell = ExternalTaskMarker(
        task_id="tell_grandchild",
        external_dag_id="marker_grandchild",
        external_task_id="{{ 'land' }}",
        execution_date="{{ ds }}T00:00:00+00:00",
    )
    before >> receive >> after >> tell

with DAG("marker_grandchild", schedule=None, start_date=START):
    BashOperator(task_id="land", bash_command="echo land") >> BashOperator(task_id="rest", bash_command="echo rest")

with DAG("marker_shallow", schedule=None, start_date=START):
    ExternalTaskMarker(
        task_id="tell_child_shallow", external_dag_id="marker_child", external_task_id="receive", recursion_depth=1
    )
"""


@pytest.fixture
def api(engine_settings, scheduler):
    settings = engine_settings.with_overrides(auth_backend="default")
    add_dag(settings, "marker_dags", DAGS)
    return create_app(settings).test_client()


def _run_all(engine_settings) -> dict[str, str]:
    runs = {dag_id: trigger(engine_settings, dag_id, execution_date=WHEN) for dag_id in _DAG_IDS}
    for dag_id, run_id in runs.items():
        assert wait_for_run(engine_settings, dag_id, run_id, timeout=60) == "success", dag_id
    return runs


_DAG_IDS = ("marker_parent", "marker_child", "marker_grandchild", "marker_shallow")


def _refs(body) -> list[tuple[str, str]]:
    return sorted((ti["dag_id"], ti["task_id"]) for ti in body["task_instances"])


def _tries(engine_settings, dag_id, run_id) -> dict[str, int]:
    return {task_id: ti.try_number for task_id, ti in task_instances(engine_settings, dag_id, run_id).items()}


def test_clearing_a_marker_clears_the_external_tasks_recursively(api, engine_settings):
    runs = _run_all(engine_settings)
    parent = runs["marker_parent"]
    reached = [
        ("marker_child", "after"),
        ("marker_child", "receive"),
        ("marker_child", "tell_grandchild"),
        ("marker_grandchild", "land"),
        ("marker_grandchild", "rest"),
    ]

    # The run's dry run lists its own instances, then what its marker reaches (with their own run ids).
    dry = api.post(f"{V1}/dags/marker_parent/dagRuns/{parent}/clear", json={}).json()
    assert _refs(dry) == sorted([("marker_parent", "build"), ("marker_parent", "tell_child"), *reached])
    child_ref = next(ti for ti in dry["task_instances"] if ti["dag_id"] == "marker_child")
    assert child_ref["dag_run_id"] == runs["marker_child"]
    assert child_ref["execution_date"] == WHEN.isoformat()

    # clearTaskInstances follows markers only with include_subdags (Airflow's default is False).
    body = {"dag_run_id": parent, "task_ids": ["tell_child"], "only_failed": False}
    plain = api.post(f"{V1}/dags/marker_parent/clearTaskInstances", json=body).json()
    assert _refs(plain) == [("marker_parent", "tell_child")]
    deep = api.post(f"{V1}/dags/marker_parent/clearTaskInstances", json={**body, "include_subdags": True}).json()
    assert _refs(deep) == sorted([("marker_parent", "tell_child"), *reached])
    # A state filter applies to the marker and to what it reaches: nothing failed, nothing listed.
    failed_only = {**body, "include_subdags": True, "only_failed": True}
    assert api.post(f"{V1}/dags/marker_parent/clearTaskInstances", json=failed_only).json()["task_instances"] == []

    # The real clear: the external instances run again, the child's task before the target does not.
    cleared = api.post(
        f"{V1}/dags/marker_parent/clearTaskInstances",
        json={**body, "include_subdags": True, "dry_run": False, "reset_dag_runs": True},
    )
    assert cleared.status_code == 200, cleared.text
    child, grandchild = runs["marker_child"], runs["marker_grandchild"]
    wait_for(
        lambda: _tries(engine_settings, "marker_grandchild", grandchild) == {"land": 2, "rest": 2},
        60,
        "the grandchild to run again",
    )
    assert wait_for_run(engine_settings, "marker_child", child, timeout=60) == "success"
    assert wait_for_run(engine_settings, "marker_grandchild", grandchild, timeout=60) == "success"
    tries = _tries(engine_settings, "marker_child", child)
    assert tries["before"] == 1 and tries["receive"] == 2 and tries["after"] == 2
    assert _tries(engine_settings, "marker_parent", parent)["build"] == 1

    # Clearing the whole parent run clears the external ones again, and queues their runs.
    api.post(f"{V1}/dags/marker_parent/dagRuns/{parent}/clear", json={"dry_run": False})
    wait_for(
        lambda: _tries(engine_settings, "marker_grandchild", grandchild) == {"land": 3, "rest": 3},
        60,
        "the grandchild to run a third time",
    )
    assert wait_for_run(engine_settings, "marker_grandchild", grandchild, timeout=60) == "success"
    assert _tries(engine_settings, "marker_parent", parent)["build"] == 2


def test_a_marker_chain_deeper_than_its_recursion_depth_is_refused(api, engine_settings):
    runs = _run_all(engine_settings)
    shallow = runs["marker_shallow"]
    response = api.post(f"{V1}/dags/marker_shallow/dagRuns/{shallow}/clear", json={})
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Maximum recursion depth 1 reached for ExternalTaskMarker tell_grandchild. "
        "Attempted to clear too many tasks or there may be a cyclic dependency."
    )
    body = {"dag_run_id": shallow, "only_failed": False, "include_subdags": True, "dry_run": False}
    refused = api.post(f"{V1}/dags/marker_shallow/clearTaskInstances", json=body)
    assert refused.status_code == 400 and "Maximum recursion depth 1" in refused.json()["detail"]
    # Nothing was cleared.
    assert _tries(engine_settings, "marker_child", runs["marker_child"])["receive"] == 1
    assert wait_for_run(engine_settings, "marker_shallow", shallow, timeout=5) == "success"

"""DAGRunApi of apache-airflow-client against the live server: every DAG-run operation, answers parsed
by the client's models."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from airflow_client.client.api import dag_run_api
from airflow_client.client.exceptions import ApiException, NotFoundException
from airflow_client.client.model.clear_dag_run import ClearDagRun
from airflow_client.client.model.dag_run import DAGRun
from airflow_client.client.model.list_dag_runs_form import ListDagRunsForm
from airflow_client.client.model.set_dag_run_note import SetDagRunNote
from airflow_client.client.model.update_dag_run_state import UpdateDagRunState

BASH = "example_bash_operator"


@pytest.fixture(scope="module")
def runs(api_client) -> dag_run_api.DAGRunApi:
    return dag_run_api.DAGRunApi(api_client)


def test_trigger_read_list_and_batch_list(runs):
    when = datetime(2024, 1, 1, tzinfo=UTC)
    created = runs.post_dag_run(
        BASH, DAGRun(dag_run_id="client_1", logical_date=when, conf={"n": 1}, note="from the client")
    )
    assert (created.dag_run_id, created.state.value, created.run_type) == ("client_1", "queued", "manual")
    assert created.logical_date == when and created.execution_date == when and created.note == "from the client"
    assert created.data_interval_start == datetime(2023, 12, 31, tzinfo=UTC)

    read = runs.get_dag_run(BASH, "client_1")
    assert read.conf == {"n": 1} and read.external_trigger is True and read.start_date is None

    listed = runs.get_dag_runs(BASH, state=["queued"], order_by="-execution_date", limit=10)
    assert "client_1" in [r.dag_run_id for r in listed.dag_runs] and listed.total_entries >= 1
    everywhere = runs.get_dag_runs("~", execution_date_gte=when, execution_date_lte=when)
    assert [r.dag_run_id for r in everywhere.dag_runs] == ["client_1"]

    batch = runs.get_dag_runs_batch(ListDagRunsForm(dag_ids=[BASH], states=["queued"], page_limit=5))
    assert "client_1" in [r.dag_run_id for r in batch.dag_runs]


def test_a_duplicate_is_a_409(runs):
    runs.post_dag_run(BASH, DAGRun(dag_run_id="client_dup", logical_date=datetime(2024, 3, 1, tzinfo=UTC)))
    with pytest.raises(ApiException) as caught:
        runs.post_dag_run(BASH, DAGRun(dag_run_id="client_dup"))
    assert caught.value.status == 409


def test_state_note_clear_and_delete(runs):
    runs.post_dag_run(BASH, DAGRun(dag_run_id="client_2", logical_date=datetime(2024, 2, 1, tzinfo=UTC)))
    assert runs.update_dag_run_state(BASH, "client_2", UpdateDagRunState(state="success")).state.value == "success"
    assert runs.update_dag_run_state(BASH, "client_2", UpdateDagRunState(state="failed")).state.value == "failed"

    noted = runs.set_dag_run_note(BASH, "client_2", SetDagRunNote(note="looked at"))
    assert noted.note == "looked at"

    dry = runs.clear_dag_run(BASH, "client_2", ClearDagRun(dry_run=True))
    assert sorted(ti["task_id"] for ti in dry["task_instances"])[:2] == ["also_run_this", "run_after_loop"]
    cleared = runs.clear_dag_run(BASH, "client_2", ClearDagRun(dry_run=False))
    assert cleared["state"] == "queued" and cleared["dag_run_id"] == "client_2"

    events = runs.get_upstream_dataset_events(BASH, "client_2")
    assert events.dataset_events == [] and events.total_entries == 0

    runs.delete_dag_run(BASH, "client_2")
    with pytest.raises(NotFoundException):
        runs.get_dag_run(BASH, "client_2")

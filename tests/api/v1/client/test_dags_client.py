"""apache-airflow-client's DAGApi, DagStatsApi, DagWarningApi and ImportErrorApi against the live server:
every DAG operation driven through the client, its models parsing each answer."""

from __future__ import annotations

import pytest
from airflow_client.client.api import dag_api, dag_stats_api, dag_warning_api, import_error_api
from airflow_client.client.exceptions import ApiException, NotFoundException
from airflow_client.client.model.dag import DAG

from tests.api.v1.peer_dags import add_peer_dags

BASH = "example_bash_operator"


@pytest.fixture(scope="module")
def dags(api_client) -> dag_api.DAGApi:
    return dag_api.DAGApi(api_client)


@pytest.fixture(scope="module")
def peer(v1_server):
    """The golden recording's peer DAG files, parsed into the live server's database once."""
    add_peer_dags(v1_server.settings)
    return v1_server.settings


def test_list_dags_with_filters_fields_and_paging(dags):
    page = dags.get_dags(limit=2, offset=1)
    assert len(page.dags) == 2
    assert page.total_entries >= 4
    bash = dags.get_dags(dag_id_pattern="bash").dags[0]
    assert bash.dag_id == BASH
    assert bash.schedule_interval.value == "0 0 * * *"
    assert bash.timetable_description == "At 00:00"
    assert [tag.name for tag in bash.tags] == ["example", "example2"]
    assert bash.next_dagrun_create_after is not None
    tagged = dags.get_dags(tags=["example2", "no_such_tag"], only_active=True, order_by="-dag_id")
    assert [d.dag_id for d in tagged.dags] == [BASH]
    trimmed = dags.get_dags(fields=["dag_id", "is_paused"], limit=1)
    assert set(trimmed.dags[0].to_dict()) == {"dag_id", "is_paused"}


def test_a_bad_order_by_is_a_400(dags):
    with pytest.raises(ApiException) as caught:
        dags.get_dags(order_by="dag_display_name")
    assert caught.value.status == 400


def test_get_dag_and_its_details(dags):
    dag = dags.get_dag(BASH)
    assert dag.owners == ["airflow"]
    assert dag.is_subdag is False
    # The client parses DAGDetail (an allOf) but cannot read a nested model back from it, with Airflow's
    # answers too (apache/airflow-client-python#124): read it through to_dict().
    detail = dags.get_dag_details(BASH).to_dict()
    assert detail["dag_run_timeout"]["seconds"] == 3600
    assert detail["params"]["example_key"]["value"] == "example_value"
    assert detail["timezone"] == "UTC"
    assert detail["catchup"] is False
    assert detail["schedule_interval"]["value"] == "0 0 * * *"
    with pytest.raises(NotFoundException):
        dags.get_dag("no_such_dag")


def test_tasks_and_one_task(dags):
    tasks = dags.get_tasks(BASH, order_by="-task_id")
    assert [t.task_id for t in tasks.tasks][0] == "this_will_skip"
    assert tasks.total_entries == 7
    task = dags.get_task(BASH, "runme_0")
    assert task.class_ref.class_name == "BashOperator"
    assert task.class_ref.module_path == "airflow.operators.bash"
    assert task.retry_delay.seconds == 300
    assert task.trigger_rule.value == "all_success"
    assert task.ui_color.value == "#f0ede4"
    taskflow = dags.get_task("example_taskflow", "extract")
    assert taskflow.class_ref.class_name == "_PythonDecoratedOperator"


def test_pause_one_dag_then_every_dag_matching_a_pattern(dags):
    paused = dags.patch_dag(BASH, DAG(is_paused=True), update_mask=["is_paused"])
    assert paused.is_paused is True
    assert dags.get_dag(BASH).is_paused is True
    unpaused = dags.patch_dags("bash", DAG(is_paused=False))
    assert [d.dag_id for d in unpaused.dags] == [BASH]
    assert unpaused.dags[0].is_paused is False
    with pytest.raises(ApiException) as caught:
        dags.patch_dag(BASH, DAG(is_paused=True), update_mask=["description"])
    assert caught.value.status == 400


def test_dag_source_and_reparse(dags):
    token = dags.get_dag(BASH).file_token
    source = dags.get_dag_source(token)
    assert 'dag_id="example_bash_operator"' in source.content
    assert dags.reparse_dag_file(token) is None
    with pytest.raises(NotFoundException):
        dags.get_dag_source("not-a-valid-token")


def test_dag_stats(api_client):
    stats = dag_stats_api.DagStatsApi(api_client).get_dag_stats(dag_ids=f"{BASH},no_such_dag")
    assert stats.total_entries == 1
    (item,) = stats.dags
    assert item.dag_id == BASH
    assert [s.state for s in item.stats] == ["queued", "running", "success", "failed"]


def test_dag_warnings(api_client, peer):
    warnings = dag_warning_api.DagWarningApi(api_client).get_dag_warnings(dag_id="peer_warning", order_by="dag_id")
    assert warnings.total_entries == 1
    # The client leaves DagWarningCollection's items as dicts (its allOf), whoever answers.
    (warning,) = warnings.dag_warnings
    assert warning["warning_type"] == "non-existent pool"
    assert warning["message"] == "Dag 'peer_warning' references non-existent pools: ['peer_no_such_pool']"


def test_import_errors(api_client, peer):
    api = import_error_api.ImportErrorApi(api_client)
    listed = api.get_import_errors(order_by="-timestamp", limit=5)
    (error,) = listed.import_errors
    assert error.filename.endswith("peer_broken_dag.py")
    assert "deliberately broken" in error.stack_trace
    assert api.get_import_error(error.import_error_id).filename == error.filename
    with pytest.raises(NotFoundException):
        api.get_import_error(999999)


def test_delete_a_dag(dags, peer):
    assert dags.get_dag("peer_throwaway").dag_id == "peer_throwaway"
    assert dags.delete_dag("peer_throwaway") is None
    with pytest.raises(NotFoundException):
        dags.get_dag("peer_throwaway")
    with pytest.raises(NotFoundException):
        dags.delete_dag("peer_throwaway")

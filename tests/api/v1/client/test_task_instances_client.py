"""Every task-instance and log operation driven through apache-airflow-client (TaskInstanceApi, and DAGApi
for clearing and marking), against a live server on a database where the DAGs really ran; the client's
models parse every answer."""

from __future__ import annotations

import ast
from collections.abc import Iterator

import pytest

from slipstream.services import users
from slipstream.storage.db import session_scope
from tests.api.support import drop_database
from tests.api.v1.client.conftest import PASSWORD, USERNAME
from tests.api.v1.task_runs import copy_ran, ran_template  # noqa: F401 (the session fixture)
from tests.live_server import ApiServer

airflow_client = pytest.importorskip("airflow_client.client", reason="apache-airflow-client is a test dependency")
from airflow_client.client.api.dag_api import DAGApi  # noqa: E402
from airflow_client.client.api.task_instance_api import TaskInstanceApi  # noqa: E402
from airflow_client.client.model.clear_task_instances import ClearTaskInstances  # noqa: E402
from airflow_client.client.model.list_task_instance_form import ListTaskInstanceForm  # noqa: E402
from airflow_client.client.model.set_task_instance_note import SetTaskInstanceNote  # noqa: E402
from airflow_client.client.model.task_state import TaskState  # noqa: E402
from airflow_client.client.model.update_task_instance import UpdateTaskInstance  # noqa: E402
from airflow_client.client.model.update_task_instances_state import UpdateTaskInstancesState  # noqa: E402
from airflow_client.client.model.update_task_state import UpdateTaskState  # noqa: E402

BASH, RUN = "example_bash_operator", "golden_bash_1"
MAPPED, MAPPED_RUN = "example_dynamic_task_mapping", "golden_mapping_1"


@pytest.fixture(scope="module")
def server(ran_template, postgres_databases, tmp_path_factory) -> Iterator[ApiServer]:  # noqa: F811
    settings = copy_ran(ran_template, tmp_path_factory.mktemp("tis_client"), postgres_databases)
    with session_scope(settings.database_url) as session:
        users.create_user(session, USERNAME, PASSWORD, actor={"username": None, "remote_addr": None})
    secure = settings.with_overrides(auth_backend="basic_auth")
    with ApiServer(secure, log=settings.home / "api.log") as api:
        yield api
    drop_database(settings.database_url, postgres_databases)


@pytest.fixture(scope="module")
def client(server) -> Iterator[airflow_client.ApiClient]:
    configuration = airflow_client.Configuration(host=f"{server.base_url}/api/v1", username=USERNAME, password=PASSWORD)
    with airflow_client.ApiClient(configuration) as api_client:
        yield api_client


@pytest.fixture(scope="module")
def tis(client) -> TaskInstanceApi:
    return TaskInstanceApi(client)


def test_list_get_and_batch(tis):
    listed = tis.get_task_instances(BASH, RUN, state=["success", "skipped"], limit=3)
    assert listed.total_entries == 7 and len(listed.task_instances) == 3
    everything = tis.get_task_instances("~", "~", pool=["default_pool"], duration_gte=0.0)
    assert everything.total_entries >= 7
    one = tis.get_task_instance(BASH, RUN, "runme_0")
    assert one.state == TaskState("success") and one.try_number == 1 and one.sla_miss is None
    assert one.rendered_fields["bash_command"].startswith('echo "example_bash_operator__runme_0__')
    batch = tis.get_task_instances_batch(
        ListTaskInstanceForm(dag_ids=[BASH], dag_run_ids=[RUN], task_ids=["runme_0", "this_will_skip"])
    )
    assert sorted(ti.task_id for ti in batch.task_instances) == ["runme_0", "this_will_skip"]


def test_mapped_instances(tis):
    assert tis.get_mapped_task_instance(MAPPED, MAPPED_RUN, "add_one", 2).map_index == 2
    listed = tis.get_mapped_task_instances(MAPPED, MAPPED_RUN, "add_one", order_by="-map_index")
    assert [ti.map_index for ti in listed.task_instances] == [2, 1, 0]
    with pytest.raises(airflow_client.ApiException) as raised:
        tis.get_task_instance(MAPPED, MAPPED_RUN, "add_one")
    assert raised.value.status == 404 and "add the map_index" in raised.value.body


def test_tries(tis):
    tries = tis.get_task_instance_tries("retry_once", "retry_1", "flaky")
    assert [(t.try_number, t.state) for t in tries.task_instances] == [
        (1, TaskState("failed")),
        (2, TaskState("success")),
    ]
    assert tis.get_task_instance_try_details("retry_once", "retry_1", "flaky", 1).state == TaskState("failed")
    mapped = tis.get_mapped_task_instance_tries(MAPPED, MAPPED_RUN, "add_one", 1)
    assert mapped.total_entries == 1
    assert tis.get_mapped_task_instance_try_details(MAPPED, MAPPED_RUN, "add_one", 1, 1).map_index == 1


def test_dependencies(tis):
    assert tis.get_task_instance_dependencies(BASH, RUN, "runme_0").dependencies == []
    assert tis.get_mapped_task_instance_dependencies(MAPPED, MAPPED_RUN, "add_one", 0).dependencies == []


def test_notes(tis):
    noted = tis.set_task_instance_note(BASH, RUN, "also_run_this", SetTaskInstanceNote(note="from the client"))
    assert noted.note == "from the client"
    mapped = tis.set_mapped_task_instance_note(MAPPED, MAPPED_RUN, "add_one", 0, SetTaskInstanceNote(note="zero"))
    assert mapped.note == "zero" and mapped.map_index == 0
    assert tis.get_task_instance(BASH, RUN, "also_run_this").note == "from the client"


def test_log_as_json_and_as_text(client, tis):
    # The client asks for application/json: its model parses the answer.
    log = tis.get_log(BASH, RUN, "runme_0", 1, full_content=True)
    [(_host, text)] = ast.literal_eval(log.content)
    assert "example_bash_operator__runme_0__20240101" in text and "Marking task as SUCCESS" in text
    followed = tis.get_log(BASH, RUN, "runme_0", 1, token=log.continuation_token)
    assert ast.literal_eval(followed.content)[0][1] == ""
    mapped = tis.get_log(MAPPED, MAPPED_RUN, "add_one", 1, map_index=1)
    assert "map_index=1" in mapped.content
    # Asking for text/plain, the text itself.
    raw = client.call_api(
        "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{task_try_number}",
        "GET",
        path_params={"dag_id": BASH, "dag_run_id": RUN, "task_id": "runme_0", "task_try_number": 1},
        header_params={"Accept": "text/plain"},
        auth_settings=["Basic"],
        _preload_content=False,
        _return_http_data_only=True,
    )
    assert raw.headers["content-type"] == "text/plain"
    assert raw.data.decode().endswith("end_date=" + text.rsplit("end_date=", 1)[1] + "\n")


def test_patch_states(tis):
    dry = tis.patch_task_instance(BASH, RUN, "runme_1", UpdateTaskInstance(new_state=UpdateTaskState("failed")))
    assert dry.task_id == "runme_1" and dry.dag_run_id == RUN
    assert tis.get_task_instance(BASH, RUN, "runme_1").state == TaskState("success")
    mapped = tis.patch_mapped_task_instance(
        MAPPED,
        MAPPED_RUN,
        "add_one",
        2,
        update_task_instance=UpdateTaskInstance(dry_run=False, new_state=UpdateTaskState("failed")),
    )
    assert mapped.to_dict() == {}  # Airflow 2.10.5 answers {} once the state is set
    assert tis.get_mapped_task_instance(MAPPED, MAPPED_RUN, "add_one", 2).state == TaskState("failed")
    failed = UpdateTaskInstance(dry_run=False, new_state=UpdateTaskState("failed"))
    tis.patch_task_instance(BASH, RUN, "runme_2", failed)
    assert tis.get_task_instance(BASH, RUN, "runme_2").state == TaskState("failed")


def test_clear_and_set_states_through_the_dag_api(client, tis):
    dags = DAGApi(client)
    would = dags.post_set_task_instances_state(
        BASH,
        UpdateTaskInstancesState(
            task_id="runme_0",
            dag_run_id=RUN,
            include_upstream=False,
            include_downstream=True,
            include_future=False,
            include_past=False,
            new_state=UpdateTaskState("skipped"),
        ),
    )
    assert {ti.task_id for ti in would.task_instances} >= {"runme_0", "run_after_loop"}
    assert tis.get_task_instance(BASH, RUN, "runme_0").state == TaskState("success")
    dry = dags.post_clear_task_instances(
        BASH, ClearTaskInstances(dag_run_id=RUN, only_failed=False, task_ids=["also_run_this"])
    )
    assert [ti.task_id for ti in dry.task_instances] == ["also_run_this"]
    cleared = dags.post_clear_task_instances(
        BASH, ClearTaskInstances(dry_run=False, dag_run_id=RUN, only_failed=False, task_ids=["also_run_this"])
    )
    assert [ti.task_id for ti in cleared.task_instances] == ["also_run_this"]
    after = tis.get_task_instance(BASH, RUN, "also_run_this")
    assert after.state == TaskState(None) and after.try_number == 1 and after.max_tries == 1
    assert [t.state for t in tis.get_task_instance_tries(BASH, RUN, "also_run_this").task_instances] == [
        TaskState("success"),
        TaskState(None),
    ]

"""DatasetApi of apache-airflow-client against a live server whose DAGs produce and consume datasets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from airflow_client.client.api import dataset_api
from airflow_client.client.exceptions import NotFoundException
from airflow_client.client.model.create_dataset_event import CreateDatasetEvent

from slipstream.services import users
from slipstream.storage.db import session_scope
from tests.api.support import api_settings, copy_database, drop_database
from tests.api.v1.client.conftest import PASSWORD, USERNAME, airflow_client
from tests.api.v1.dataset_dags import DAG1_URI, DAG2_URI, build_datasets_template
from tests.live_server import ApiServer

AND_DAG = "consume_1_and_2_with_dataset_expressions"


@pytest.fixture(scope="module")
def datasets(tmp_path_factory, postgres_databases) -> Iterator[dataset_api.DatasetApi]:
    home = tmp_path_factory.mktemp("v1_datasets_client")
    template = build_datasets_template(tmp_path_factory.mktemp("datasets_client_template"), postgres_databases)
    settings = api_settings(home, database_url=copy_database(template, home, postgres_databases))
    with session_scope(settings.database_url) as session:
        users.create_user(session, USERNAME, PASSWORD, actor={"username": None, "remote_addr": None})
    secure = settings.with_overrides(auth_backend="basic_auth")
    with ApiServer(secure, log=home / "api.log") as api:
        configuration = airflow_client.Configuration(
            host=f"{api.base_url}/api/v1", username=USERNAME, password=PASSWORD
        )
        with airflow_client.ApiClient(configuration) as client:
            yield dataset_api.DatasetApi(client)
    drop_database(settings.database_url, postgres_databases)


def test_datasets_and_one_by_uri(datasets):
    listed = datasets.get_datasets(order_by="uri")
    assert [d.uri for d in listed.datasets] == [DAG1_URI, DAG2_URI]
    one = datasets.get_dataset(DAG1_URI)
    assert [r.dag_id for r in one.consuming_dags] == [AND_DAG, "dataset_consumes_1"]
    with pytest.raises(NotFoundException):
        datasets.get_dataset("s3://no/such")


def test_events_and_queued_events(datasets):
    event = datasets.create_dataset_event(CreateDatasetEvent(dataset_uri=DAG1_URI, extra={"by": "client"}))
    assert event.extra == {"by": "client", "from_rest_api": True} and event.source_dag_id is None
    listed = datasets.get_dataset_events(order_by="-timestamp", limit=1)
    assert listed.dataset_events[0].id == event.id

    # Airflow sends `queued_events` where its spec (and so the client's model) says `datasets`: the
    # client keeps the items as plain dicts.
    queued = datasets.get_dag_dataset_queued_events(AND_DAG)
    assert queued.total_entries == 1
    assert [(e["dag_id"], e["uri"]) for e in queued.queued_events] == [(AND_DAG, DAG1_URI)]
    assert datasets.get_dag_dataset_queued_event(AND_DAG, DAG1_URI).uri == DAG1_URI
    by_dataset = datasets.get_dataset_queued_events(DAG1_URI)
    assert {e["dag_id"] for e in by_dataset.queued_events} == {AND_DAG, "dataset_consumes_1"}

    datasets.delete_dag_dataset_queued_event(AND_DAG, DAG1_URI)
    datasets.delete_dag_dataset_queued_events("dataset_consumes_1")
    with pytest.raises(NotFoundException):
        datasets.get_dataset_queued_events(DAG1_URI)
    datasets.create_dataset_event(CreateDatasetEvent(dataset_uri=DAG1_URI))
    datasets.delete_dataset_queued_events(DAG1_URI)
    with pytest.raises(NotFoundException):
        datasets.delete_dataset_queued_events(DAG1_URI)

    with pytest.raises(NotFoundException):
        datasets.get_upstream_dataset_events("example_bash_operator", "no_such_run")

"""apache-airflow-client (the official Python client, 2.10.x) against a live `slipstream api` with basic auth.

Each module gets its own server on its own copy of the example-DAG database, so a module may change
what it likes. Tests call the client's generated API classes (`DAGApi`, `DAGRunApi`, ...) and let its
models parse every answer: a field of the wrong type or a missing required one fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from slipstream.services import users
from slipstream.storage.db import session_scope
from tests.api.support import api_settings, copy_database, drop_database
from tests.live_server import ApiServer

airflow_client = pytest.importorskip("airflow_client.client", reason="apache-airflow-client is a test dependency")

USERNAME, PASSWORD = "v1-client", "a long enough password"


@pytest.fixture(scope="module")
def v1_server(example_dags_database, postgres_databases, tmp_path_factory) -> Iterator[ApiServer]:
    home = tmp_path_factory.mktemp("v1_client")
    settings = api_settings(home, database_url=copy_database(example_dags_database, home, postgres_databases))
    settings.dags_folder.mkdir(parents=True, exist_ok=True)
    with session_scope(settings.database_url) as session:
        users.create_user(session, USERNAME, PASSWORD, actor={"username": None, "remote_addr": None})
    secure = settings.with_overrides(auth_backend="basic_auth")
    with ApiServer(secure, log=home / "api.log") as api:
        api.settings = secure
        yield api
    drop_database(settings.database_url, postgres_databases)


@pytest.fixture(scope="module")
def api_client(v1_server) -> Iterator[airflow_client.ApiClient]:
    configuration = airflow_client.Configuration(
        host=f"{v1_server.base_url}/api/v1", username=USERNAME, password=PASSWORD
    )
    with airflow_client.ApiClient(configuration) as client:
        yield client


@pytest.fixture(scope="module")
def anonymous_client(v1_server) -> Iterator[airflow_client.ApiClient]:
    with airflow_client.ApiClient(airflow_client.Configuration(host=f"{v1_server.base_url}/api/v1")) as client:
        yield client

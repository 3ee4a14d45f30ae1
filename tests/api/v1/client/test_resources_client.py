"""XComApi, VariableApi, ConnectionApi and PoolApi of apache-airflow-client against the live server."""

from __future__ import annotations

import pytest
from airflow_client.client.api import connection_api, pool_api, variable_api, x_com_api
from airflow_client.client.exceptions import ApiException, ForbiddenException, NotFoundException
from airflow_client.client.model.connection import Connection
from airflow_client.client.model.pool import Pool
from airflow_client.client.model.variable import Variable

from tests.api.v1.test_xcom import store_xcoms


@pytest.fixture(scope="module")
def xcoms(v1_server):
    store_xcoms(v1_server.settings.database_url)


def test_xcom_entries_are_listed_and_read(api_client, xcoms):
    api = x_com_api.XComApi(api_client)
    listed = api.get_xcom_entries("example_xcom", "golden_xcom_1", "~", xcom_key="return_value")
    assert listed.total_entries == 2
    assert [e.task_id for e in listed.xcom_entries] == ["bash_push", "push_by_returning"]
    mapped = api.get_xcom_entries("~", "~", "add_one", map_index=1, limit=5)
    assert [(e.dag_id, e.map_index) for e in mapped.xcom_entries] == [("example_dynamic_task_mapping", 1)]
    entry = api.get_xcom_entry("example_xcom", "golden_xcom_1", "push_by_returning", "return_value")
    assert entry.value == "{'a': 'b'}"
    native = api.get_xcom_entry("example_xcom", "golden_xcom_1", "push_by_returning", "return_value", stringify=False)
    assert native.value == {"a": "b"}
    with pytest.raises(NotFoundException):
        api.get_xcom_entry("example_dynamic_task_mapping", "golden_mapping_1", "add_one", "return_value")
    with pytest.raises(ApiException) as refused:
        api.get_xcom_entry("example_xcom", "golden_xcom_1", "push", "value from pusher 1", deserialize=True)
    assert refused.value.status == 400


def test_variables_round_trip(api_client):
    api = variable_api.VariableApi(api_client)
    created = api.post_variables(Variable(key="client_var", value="one", description="from the client"))
    assert created.value == "one"
    assert api.get_variable("client_var").description == "from the client"
    patched = api.patch_variable("client_var", Variable(key="client_var", value="two"), update_mask=["val"])
    assert patched.value == "two"
    listed = api.get_variables(order_by="-key")
    assert "client_var" in [v.key for v in listed.variables]
    api.delete_variable("client_var")
    with pytest.raises(NotFoundException):
        api.get_variable("client_var")


def test_connections_round_trip_without_the_password(api_client):
    api = connection_api.ConnectionApi(api_client)
    created = api.post_connection(
        Connection(
            connection_id="client_conn",
            conn_type="postgres",
            host="db.example",
            port=5432,
            password="hunter2",
            extra='{"api_key": "k", "sslmode": "require"}',
        )
    )
    assert created.extra == '{"api_key": "***", "sslmode": "require"}'
    assert "password" not in created.to_dict()
    patched = api.patch_connection(
        "client_conn", Connection(connection_id="client_conn", conn_type="postgres", host="db2"), update_mask=["host"]
    )
    assert patched.host == "db2"
    assert api.get_connection("client_conn").port == 5432
    listed = api.get_connections(order_by="connection_id")
    assert [c.connection_id for c in listed.connections] == ["client_conn"]
    with pytest.raises(ForbiddenException) as disabled:
        api.test_connection(Connection(connection_id="probe", conn_type="http", host="localhost"))
    assert "Testing connections is disabled" in disabled.value.body
    api.delete_connection("client_conn")
    with pytest.raises(NotFoundException):
        api.get_connection("client_conn")


def test_pools_round_trip_with_slot_counts(api_client):
    api = pool_api.PoolApi(api_client)
    created = api.post_pool(Pool(name="client_pool", slots=4, description="from the client"))
    assert (created.open_slots, created.occupied_slots) == (4, 0)
    patched = api.patch_pool("client_pool", Pool(slots=6), update_mask=["slots"])
    assert patched.slots == 6
    unlimited = api.post_pool(Pool(name="client_unlimited", slots=-1))
    assert unlimited.open_slots == -1
    names = [p.name for p in api.get_pools(order_by="name").pools]
    assert names == sorted(names) and "client_pool" in names
    assert api.get_pool("default_pool").slots == 128
    api.delete_pool("client_pool")
    with pytest.raises(NotFoundException):
        api.get_pool("client_pool")

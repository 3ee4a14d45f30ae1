"""`var` and `conn` in templates, rendered with the engine's Jinja environment: environment first, then the DB."""

from __future__ import annotations

import pytest

from slipstream.scheduler.templating import make_environment
from slipstream.sdk import metastore
from slipstream.sdk.connections import Connection, ConnectionAccessor
from slipstream.sdk.exceptions import AirflowNotFoundException
from slipstream.sdk.variables import VariableAccessor
from slipstream.services import connections, variables
from slipstream.storage.db import session_scope
from slipstream.storage.encryption import cipher_for


@pytest.fixture
def render(settings, monkeypatch):
    monkeypatch.setattr(metastore, "_settings", settings)
    cipher = cipher_for(settings)
    with session_scope(settings.database_url) as session:
        variables.set_variable(session, "greeting", "hello", cipher)
        variables.set_variable(session, "cfg", '{"sub": {"n": 3}}', cipher)
        connections.add_connection(
            session, Connection(conn_id="my_conn", conn_type="http", host="api.example.com", port=443), cipher
        )
    context = {
        "var": {"value": VariableAccessor(deserialize_json=False), "json": VariableAccessor(deserialize_json=True)},
        "conn": ConnectionAccessor(),
    }
    env = make_environment((".",))
    return lambda template: env.from_string(template).render(context)


def test_variables(render, monkeypatch):
    assert render("{{ var.value.greeting }} {{ var.json.cfg.sub.n }}") == "hello 3"
    assert render("{{ var.value.get('missing', 'd') }} {{ var.value.get('greeting', 'd') }}") == "d hello"
    monkeypatch.setenv("AIRFLOW_VAR_GREETING", "from-env")
    assert render("{{ var.value.greeting }}") == "from-env"


def test_a_missing_variable_fails_the_render(render):
    with pytest.raises(KeyError, match="Variable missing does not exist"):
        render("{{ var.value.missing }}")


def test_connections(render, monkeypatch):
    assert render("{{ conn.my_conn.host }}:{{ conn.my_conn.port }} {{ conn.my_conn }}") == "api.example.com:443 my_conn"
    assert render("{{ conn.get('my_conn').host }} {{ conn.get('nope') }}") == "api.example.com None"
    monkeypatch.setenv("AIRFLOW_CONN_MY_CONN", "http://env-host")
    assert render("{{ conn.my_conn.host }}") == "env-host"
    with pytest.raises(AirflowNotFoundException, match="The conn_id `nope` isn't defined"):
        render("{{ conn.nope.host }}")

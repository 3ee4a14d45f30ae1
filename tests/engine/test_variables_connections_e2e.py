"""Variables and connections on real runs: an Airflow-style DAG file reads them in Python and in templates,
through the dag processor, scheduler and fork server; secrets come out of the task log as ***."""

from __future__ import annotations

import json

import pytest

from slipstream.sdk.connections import Connection
from slipstream.services import connections, variables
from slipstream.storage.db import session_scope
from slipstream.storage.encryption import cipher_for
from tests.engine.support import add_dag, read_log, task_instances, trigger, wait_for_run

PASSWORD = "s3cr3t p@ss/word"
TOKEN = "tok-123456789"

SECRETS_DAG = """
from datetime import datetime, timezone

from airflow.hooks.base import BaseHook
from airflow.models import Variable
from airflow.models.dag import DAG
from airflow.operators.bash import BashOperator

try:
    from airflow.operators.python import PythonOperator
except ImportError:  # the airflow namespace without its python operators module yet
    from slipstream.sdk import PythonOperator


def read_secrets():
    conn = BaseHook.get_connection("warehouse")
    print("host", conn.host, "port", conn.port, "schema", conn.schema, "login", conn.login)
    print("password", conn.password)
    print("uri", conn.get_uri())
    print("region", conn.extra_dejson["region"])
    print("greeting", Variable.get("greeting"))
    print("token", Variable.get("api_token"))
    print("shadowed", Variable.get("shadowed"))
    print("nested", Variable.get("settings", deserialize_json=True)["nested"]["n"])
    print("default", Variable.get("missing", default_var="fallback"))
    try:
        Variable.get("missing")
    except KeyError as exc:
        print("error", exc)
    Variable.set("written_by_task", {"ok": True}, serialize_json=True)
    return "done"


with DAG("secrets", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), catchup=False) as dag:
    PythonOperator(task_id="read", python_callable=read_secrets)
    BashOperator(
        task_id="template",
        bash_command=(
            "echo host={{ conn.warehouse.host }} greeting={{ var.value.greeting }} n={{ var.json.settings.nested.n }} "
            "dflt={{ var.value.get('missing', 'd') }} env={{ var.value.shadowed }} none={{ conn.get('nope') }} "
            "pw={{ conn.warehouse.password }}"
        ),
    )
    BashOperator(task_id="missing_variable", bash_command="echo {{ var.value.missing }}")
"""


@pytest.fixture
def secrets_env(monkeypatch):
    """Set before the scheduler starts, so its fork server (and every task) inherits it."""
    monkeypatch.setenv("AIRFLOW_VAR_SHADOWED", "from-env")


def store_secrets(settings) -> None:
    """The variables and the connection SECRETS_DAG reads, stored (encrypted) as the CLI would."""
    cipher = cipher_for(settings)
    with session_scope(settings.database_url) as session:
        variables.set_variable(session, "greeting", "hello", cipher)
        variables.set_variable(session, "api_token", TOKEN, cipher)
        variables.set_variable(session, "shadowed", "from-db", cipher)
        variables.set_variable(session, "settings", json.dumps({"nested": {"n": 7}}), cipher)
        connection = Connection(
            conn_id="warehouse",
            conn_type="postgres",
            host="db.example.com",
            login="loader",
            password=PASSWORD,
            schema="dw",
            port=5432,
            extra={"region": "eu-west-1"},
        )
        connections.add_connection(session, connection, cipher)


def assert_secrets_run(settings, run_id: str) -> None:
    """End states, what the tasks read and rendered, secrets masked in logs, the task's own write."""
    tis = task_instances(settings, "secrets", run_id)
    assert {t: ti.state for t, ti in tis.items()} == {
        "read": "success",
        "template": "success",
        "missing_variable": "failed",
    }

    read = read_log(settings, "secrets", run_id, "read")
    assert "host db.example.com port 5432 schema dw login loader" in read
    assert "password ***" in read
    assert "uri postgres://loader:***@db.example.com:5432/dw?region=eu-west-1" in read
    assert "region eu-west-1" in read
    assert "greeting hello" in read  # not a sensitive key: shown
    assert "token ***" in read  # api_token: masked
    assert "shadowed from-env" in read  # the environment wins over the database
    assert "nested 7" in read
    assert "default fallback" in read
    assert "error 'Variable missing does not exist'" in read
    assert "Done. Returned value was: done" in read
    for secret in (PASSWORD, "s3cr3t", TOKEN):
        assert secret not in read

    template = read_log(settings, "secrets", run_id, "template")
    echoed = "host=db.example.com greeting=hello n=7 dflt=d env=from-env none=None pw=***"
    assert echoed in template
    assert "s3cr3t" not in template
    rendered = tis["template"].rendered_fields["bash_command"]
    assert "pw=***" in rendered and "s3cr3t" not in rendered

    missing = read_log(settings, "secrets", run_id, "missing_variable")
    assert "KeyError: 'Variable missing does not exist'" in missing

    with session_scope(settings.database_url, write=False) as session:
        written = variables.get_variable(session, "written_by_task", cipher_for(settings))
    assert json.loads(written.value) == {"ok": True}


def test_a_dag_reads_variables_and_connections_with_secrets_masked(engine_settings, secrets_env, scheduler):
    store_secrets(engine_settings)
    add_dag(engine_settings, "secrets", SECRETS_DAG)
    run_id = trigger(engine_settings, "secrets")
    assert wait_for_run(engine_settings, "secrets", run_id, timeout=60) == "failed"
    assert_secrets_run(engine_settings, run_id)

"""Params through the API and the CLI: a trigger whose conf breaks a Param is a 400 naming it and
stores nothing; a required param refuses a trigger without conf; the task endpoint shows params."""

from __future__ import annotations

import textwrap

import pytest
from typer.testing import CliRunner

from slipstream.cli import app as cli_app
from slipstream.dag_processing import process_all
from tests.api.support import BASE, assert_error, read_runs, snapshot, trigger

DAG_ID = "params_dag"
PARAMS_DAG = f"""
from datetime import datetime

from airflow import DAG
from airflow.models.param import Param
from airflow.operators.empty import EmptyOperator

with DAG(
    {DAG_ID!r},
    schedule=None,
    start_date=datetime(2024, 1, 1),
    params={{
        "count": Param(1, type="integer", minimum=0, description="How many"),
        "name": Param(type="string"),
        "mode": "fast",
    }},
) as dag:
    EmptyOperator(task_id="only", params={{"task_only": Param("x", enum=["x", "y"])}})
"""
NOT_AN_INTEGER = (
    "Invalid input for param count: 'abc' is not of type 'integer'\n\n"
    "Failed validating 'type' in schema:\n    {'type': 'integer', 'minimum': 0}\n\n"
    "On instance:\n    'abc'"
)
NAME_REQUIRED = "Invalid input for param name: No value passed and Param has no default value"


@pytest.fixture
def settings(app_settings):
    (app_settings.dags_folder / "params_dag.py").write_text(textwrap.dedent(PARAMS_DAG))
    report = process_all(app_settings)
    assert not report.import_errors, report.import_errors
    return app_settings


def test_a_conf_breaking_a_param_is_a_400_naming_it_and_nothing_is_stored(client, settings):
    before = snapshot(settings)
    response = trigger(client, {"conf": {"count": "abc", "name": "n"}}, dag_id=DAG_ID)
    assert_error(response, 400, NOT_AN_INTEGER)
    assert snapshot(settings) == before

    below_minimum = trigger(client, {"conf": {"count": -1, "name": "n"}}, dag_id=DAG_ID)
    assert below_minimum.status_code == 400
    assert below_minimum.json()["error"].startswith("Invalid input for param count: -1 is less than the minimum of 0")
    assert read_runs(settings, DAG_ID) == []


def test_a_required_param_refuses_a_trigger_without_it_and_accepts_one_with_it(client, settings):
    assert_error(trigger(client, {}, dag_id=DAG_ID), 400, NAME_REQUIRED)
    assert_error(trigger(client, {"conf": {"count": 2}}, dag_id=DAG_ID), 400, NAME_REQUIRED)
    assert read_runs(settings, DAG_ID) == []

    conf = {"name": "given", "undeclared": [1, 2]}
    response = trigger(client, {"conf": conf, "run_id": "with_name"}, dag_id=DAG_ID)
    assert response.status_code == 200, response.text
    (run,) = read_runs(settings, DAG_ID)
    assert (run.run_id, run.conf) == ("with_name", conf)


def test_the_conf_string_form_is_checked_too(client, settings):
    response = trigger(client, {"conf": '{"count": "abc", "name": "n"}'}, dag_id=DAG_ID)
    assert_error(response, 400, NOT_AN_INTEGER)


def test_the_task_endpoint_shows_params_as_airflow_does(client, settings):
    response = client.get(f"{BASE}/dags/{DAG_ID}/tasks/only")
    assert response.status_code == 200, response.text
    # str() of the task's ParamsDict: resolved values, None where a param has no value.
    assert response.json()["params"] == "{'count': 1, 'name': None, 'mode': 'fast', 'task_only': 'x'}"


def test_the_cli_trigger_refuses_the_same_conf(settings, monkeypatch):
    monkeypatch.setenv("SLIPSTREAM_HOME", str(settings.home))
    monkeypatch.setenv("SLIPSTREAM_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SLIPSTREAM_DAGS_FOLDER", str(settings.dags_folder))
    runner = CliRunner()

    refused = runner.invoke(cli_app, ["dags", "trigger", DAG_ID, "--conf", '{"count": "abc", "name": "n"}'])
    assert refused.exit_code == 1
    assert "Invalid input for param count: 'abc' is not of type 'integer'" in " ".join(refused.output.split())
    missing = runner.invoke(cli_app, ["dags", "trigger", DAG_ID])
    assert missing.exit_code == 1
    assert NAME_REQUIRED in " ".join(missing.output.split())  # the console wraps long lines
    assert read_runs(settings, DAG_ID) == []

    accepted = runner.invoke(cli_app, ["dags", "trigger", DAG_ID, "--conf", '{"name": "n"}', "--json"])
    assert accepted.exit_code == 0, accepted.output
    assert [run.conf for run in read_runs(settings, DAG_ID)] == [{"name": "n"}]

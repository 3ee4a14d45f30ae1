"""Params when a DAG file is parsed: Airflow's import errors for scheduled DAGs, and what is stored."""

from __future__ import annotations

from slipstream.dag_processing import process_all
from tests.dag_processing.test_processor import import_errors, serialized_row, write

SCHEDULE_RULE = (
    "DAG is not allowed to define a Schedule, "
    "if there are any required params without default values or default values are not valid."
)

PARAMS_DAG = """
from datetime import datetime

from airflow import DAG
from airflow.models.param import Param
from airflow.operators.empty import EmptyOperator

with DAG(
    {dag_id!r},
    schedule={schedule},
    start_date=datetime(2024, 1, 1),
    params={{"x": {param}}},
) as dag:
    EmptyOperator(task_id="t")
"""


def params_dag(dag_id: str, schedule: str, param: str) -> str:
    return PARAMS_DAG.format(dag_id=dag_id, schedule=schedule, param=param)


def test_a_scheduled_dag_with_a_required_param_is_an_import_error(settings):
    path = write(settings.dags_folder, "required.py", params_dag("required", "'@daily'", 'Param(type="integer")'))
    ok = write(settings.dags_folder, "other.py", params_dag("other", "'@daily'", 'Param(1, type="integer")'))
    report = process_all(settings)

    error = import_errors(settings)[str(path)]
    assert error.endswith(f"AirflowException: {SCHEDULE_RULE}")
    # The cause is in the traceback, as Airflow chains it.
    assert "Invalid input for param x: No value passed and Param has no default value" in error
    assert "required" not in report.dag_ids
    assert "other" in report.dag_ids and str(ok) not in import_errors(settings)


def test_a_default_breaking_its_schema_on_a_scheduled_dag_is_an_import_error(settings):
    source = params_dag("bad_default", "'@daily'", 'Param("a", type="integer")')
    path = write(settings.dags_folder, "bad_default.py", source)
    process_all(settings)
    error = import_errors(settings)[str(path)]
    assert error.endswith(f"AirflowException: {SCHEDULE_RULE}")
    assert "Invalid input for param x: 'a' is not of type 'integer'" in error


def test_an_unscheduled_dag_may_have_required_params(settings):
    write(settings.dags_folder, "manual.py", params_dag("manual", "None", 'Param(type="integer", description="n")'))
    report = process_all(settings)
    assert report.import_errors == {}
    data = serialized_row(settings, "manual").data
    assert data["params"] == {"x": {"description": "n", "schema": {"type": "integer"}}}
    assert data["tasks"]["t"]["display"]["params"] == "{'x': None}"


def test_params_added_after_the_dag_is_built_are_checked_too(settings):
    source = params_dag("late", "'@daily'", "1") + '\ndag.params["y"] = Param(type="string")\n'
    path = write(settings.dags_folder, "late.py", source)
    process_all(settings)
    assert import_errors(settings)[str(path)] == f"AirflowException: {SCHEDULE_RULE}"


def test_a_schema_that_is_not_a_json_schema_is_an_import_error(settings):
    path = write(settings.dags_folder, "bad_schema.py", params_dag("bad_schema", "None", 'Param(1, type="int")'))
    process_all(settings)
    assert "ParamValidationError: Invalid schema for param x: 'int' is not valid" in import_errors(settings)[str(path)]

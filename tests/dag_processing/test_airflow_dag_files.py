"""Airflow-style DAG files through the real dag processor: groups, labels and Airflow's construction errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from slipstream.dag_processing import process_all
from slipstream.services.task_views import get_task_attributes
from slipstream.storage.db import session_scope
from slipstream.storage.models import ImportErrorModel, SerializedDagModel

GROUPED = """
from datetime import datetime

from airflow.models.baseoperator import chain, cross_downstream
from airflow.models.dag import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator
from airflow.utils.edgemodifier import Label
from airflow.utils.task_group import TaskGroup
from airflow.utils.trigger_rule import TriggerRule

with DAG(dag_id="grouped", schedule=None, start_date=datetime(2024, 1, 1), default_args={"retries": 1}) as dag:
    start = EmptyOperator(task_id="start")

    with TaskGroup("section_1", tooltip="Tasks for section_1", default_args={"retries": 2}) as section_1:
        task_1 = EmptyOperator(task_id="task_1")
        task_2 = BashOperator(task_id="task_2", bash_command="echo 1")
        task_3 = EmptyOperator(task_id="task_3", retries=4)
        task_1 >> [task_2, task_3]

    with TaskGroup("section_2", tooltip="Tasks for section_2") as section_2:
        inner_1 = EmptyOperator(task_id="task_1")
        with TaskGroup("inner_section_2", tooltip="Tasks for inner_section2") as inner_section_2:
            deep = [BashOperator(task_id=f"task_{i}", bash_command="echo 1") for i in (2, 3, 4)]
            chain(*deep)
        inner_1 >> inner_section_2

    end = EmptyOperator(task_id="end", trigger_rule=TriggerRule.ALL_DONE)
    start >> Label("go") >> section_1 >> section_2 >> end
    cross_downstream([start], [EmptyOperator(task_id="side")])
"""

PLAIN = """
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("plain", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="alone")
"""

BAD_FILES = {
    "unknown_kwarg": (
        "EmptyOperator(task_id='t', colour='red')",
        "Invalid arguments were passed to EmptyOperator (task_id: t). Invalid arguments were:\n"
        "**kwargs: {'colour': 'red'}",
    ),
    "duplicate_id": (
        "EmptyOperator(task_id='t')\n    EmptyOperator(task_id='t')",
        "DuplicateTaskIdFound: Task id 't' has already been added to the DAG",
    ),
    "positional": ("EmptyOperator('t')", "AirflowException: Use keyword arguments when initializing operators"),
    "bad_id": (
        "EmptyOperator(task_id='no spaces')",
        "AirflowException: The key 'no spaces' has to be made of alphanumeric characters, dashes, dots and "
        "underscores exclusively",
    ),
    "duplicate_group": (
        "TaskGroup('g')\n    TaskGroup('g')",
        "DuplicateTaskIdFound: group_id 'g' has already been added to the DAG",
    ),
}

BAD_TEMPLATE = """
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.utils.task_group import TaskGroup

with DAG("{dag_id}", schedule=None, start_date=datetime(2024, 1, 1)):
    {body}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def stored(settings, dag_id: str) -> dict:
    with session_scope(settings.database_url, write=False) as db:
        return db.get(SerializedDagModel, dag_id).data


def test_an_airflow_grouped_dag_parses_into_its_tasks_and_edges(settings):
    write(settings.dags_folder, "grouped.py", GROUPED)

    report = process_all(settings)

    assert report.import_errors == {}
    data = stored(settings, "grouped")
    tasks = data["tasks"]
    upstream = {task_id: task["upstream_task_ids"] for task_id, task in tasks.items()}
    assert upstream == {
        "start": [],
        "section_1.task_1": ["start"],
        "section_1.task_2": ["section_1.task_1"],
        "section_1.task_3": ["section_1.task_1"],
        "section_2.task_1": ["section_1.task_2", "section_1.task_3"],
        "section_2.inner_section_2.task_2": ["section_2.task_1"],
        "section_2.inner_section_2.task_3": ["section_2.inner_section_2.task_2"],
        "section_2.inner_section_2.task_4": ["section_2.inner_section_2.task_3"],
        "end": ["section_2.inner_section_2.task_4"],
        "side": ["start"],
    }
    # DAG < group < task for retries.
    retries = {task_id: task["retries"] for task_id, task in tasks.items()}
    assert retries["start"] == 1 and retries["section_1.task_2"] == 2 and retries["section_1.task_3"] == 4
    assert retries["section_2.task_1"] == 1
    assert tasks["end"]["trigger_rule"] == "all_done"
    assert tasks["section_2.inner_section_2.task_3"]["task_group"] == "section_2.inner_section_2"
    assert tasks["start"]["task_group"] is None
    assert data["task_groups"]["section_2"] == {
        "group_id": "section_2",
        "parent_group_id": None,
        "prefix_group_id": True,
        "tooltip": "Tasks for section_2",
        "ui_color": "CornflowerBlue",
        "ui_fgcolor": "#000",
        "task_ids": ["section_2.task_1"],
        "group_ids": ["section_2.inner_section_2"],
    }
    assert data["task_groups"]["section_2.inner_section_2"]["parent_group_id"] == "section_2"
    assert data["edge_info"] == {"start": {"section_1.task_1": {"label": "go"}}}


def test_the_task_endpoint_shows_the_group_only_for_grouped_tasks(settings, session):
    write(settings.dags_folder, "grouped.py", GROUPED)
    process_all(settings)

    grouped = get_task_attributes(session, "grouped", "section_1.task_2")
    top = get_task_attributes(session, "grouped", "start")
    assert grouped["task_group"].startswith("<airflow.utils.task_group.TaskGroup object at 0x")
    assert grouped["task_group"] == get_task_attributes(session, "grouped", "section_1.task_1")["task_group"]
    assert grouped["retries"] == "2" and grouped["downstream_task_ids"] == "{'section_2.task_1'}"
    assert top["task_group"] == "None"


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_file_is_an_import_error_with_airflows_message_and_other_dags_load(settings, name):
    body, message = BAD_FILES[name]
    bad = write(settings.dags_folder, f"{name}.py", BAD_TEMPLATE.format(dag_id=name, body=body))
    write(settings.dags_folder, "plain.py", PLAIN)

    report = process_all(settings)

    assert report.dag_ids == ["plain"]
    with session_scope(settings.database_url, write=False) as db:
        errors = {row.filename: row.stacktrace for row in db.scalars(select(ImportErrorModel))}
    assert set(errors) == {str(bad)}
    assert errors[str(bad)].startswith("Traceback (most recent call last):")
    assert f'File "{bad}", line ' in errors[str(bad)]
    assert errors[str(bad)].endswith(message)


def test_auto_register_false_keeps_only_dags_held_in_a_global(settings):
    write(
        settings.dags_folder,
        "registering.py",
        """
        from datetime import datetime

        from airflow import DAG
        from airflow.operators.empty import EmptyOperator


        def build(dag_id, auto_register):
            with DAG(dag_id, schedule=None, start_date=datetime(2024, 1, 1), auto_register=auto_register) as dag:
                EmptyOperator(task_id="t")
            return dag


        build("registered_by_default", True)
        build("not_registered", False)
        kept = build("kept_in_a_global", False)
        """,
    )

    report = process_all(settings)

    assert report.import_errors == {}
    assert sorted(report.dag_ids) == ["kept_in_a_global", "registered_by_default"]

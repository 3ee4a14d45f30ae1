"""A DAG file written for Airflow, with task groups, `@task_group`, labels and DAG-level template
settings, runs to success through the real dag processor, scheduler and executor."""

from __future__ import annotations

from tests.engine.support import add_dag, task_instances, trigger, wait_for_run

GROUPED_DAG = """
from datetime import datetime

from airflow import DAG
from airflow.models.baseoperator import chain
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator
from airflow.utils.edgemodifier import Label
from airflow.utils.task_group import TaskGroup

# airflow.decorators (which exports the same task_group) is another module's work.
from slipstream.sdk import task_group


def shout(text):
    return text.upper()


with DAG(
    "grouped",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    default_args={"retries": 0},
    user_defined_macros={"team": "data"},
    user_defined_filters={"shout": shout},
) as dag:
    start = EmptyOperator(task_id="start")

    with TaskGroup("extract", tooltip="pull the sources") as extract:
        # Each group task writes its own id, so the test sees which ran and in what order.
        first = BashOperator(task_id="first", bash_command="echo {{ task.task_id }} >> $OUT")
        with TaskGroup("nested") as nested:
            BashOperator(task_id="deep", bash_command="echo {{ task.task_id }} >> $OUT")
        first >> nested

    @task_group(group_id="load")
    def load(suffix):
        \"\"\"Load it all.\"\"\"
        BashOperator(task_id=f"write_{suffix}", bash_command="echo {{ task.task_id }} >> $OUT")

    report = BashOperator(
        task_id="report",
        bash_command="echo '{{ team | shout }} done' >> $OUT",
    )
    start >> Label("begin") >> extract >> Label("then load") >> [load("a"), load("b")]
    chain(dag.task_group_dict["load"], report)
    dag.task_group_dict["load__1"] >> report
"""


def test_a_grouped_dag_with_labels_runs_to_success(engine_settings, scheduler, tmp_path):
    out = tmp_path / "out.txt"
    # The path is written into the file: the fork server may have started before any env change here.
    add_dag(engine_settings, "grouped", GROUPED_DAG.replace("$OUT", str(out)))
    run_id = trigger(engine_settings, "grouped")

    assert wait_for_run(engine_settings, "grouped", run_id) == "success"
    states = {task_id: ti.state for task_id, ti in task_instances(engine_settings, "grouped", run_id).items()}
    assert states == {
        "start": "success",
        "extract.first": "success",
        "extract.nested.deep": "success",
        "load.write_a": "success",
        "load__1.write_b": "success",
        "report": "success",
    }
    lines = out.read_text().split("\n")
    assert lines[:2] == ["extract.first", "extract.nested.deep"]
    assert sorted(lines[2:4]) == ["load.write_a", "load__1.write_b"]
    assert lines[4:] == ["DATA done", ""]

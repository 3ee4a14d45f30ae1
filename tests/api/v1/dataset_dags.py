"""DAGs on datasets named as in Airflow's example_datasets.py, so the golden dataset transcripts replay here.

`build_datasets_template` makes a template database holding the example DAGs and these; copy it per test
with tests.api.support.copy_database.
"""

from __future__ import annotations

from pathlib import Path

from slipstream.config import Settings
from slipstream.dag_processing import process_all
from tests.api.support import build_template_database

DAG1_URI = "s3://dag1/output_1.txt"
DAG2_URI = "s3://dag2/output_1.txt"
SOURCE = """
import pendulum

from airflow.datasets import Dataset
from airflow.models.dag import DAG
from airflow.operators.bash import BashOperator

dag1_dataset = Dataset("s3://dag1/output_1.txt", extra={"hi": "bye"})
dag2_dataset = Dataset("s3://dag2/output_1.txt", extra={"hi": "bye"})
start = pendulum.datetime(2021, 1, 1, tz="UTC")

with DAG("dataset_produces_1", start_date=start, schedule=None):
    BashOperator(outlets=[dag1_dataset], task_id="producing_task_1", bash_command="sleep 0")

with DAG("dataset_produces_2", start_date=start, schedule=None):
    BashOperator(outlets=[dag2_dataset], task_id="producing_task_2", bash_command="sleep 0")

with DAG("dataset_consumes_1", start_date=start, schedule=[dag1_dataset]):
    BashOperator(task_id="consuming_1", bash_command="sleep 0")

with DAG("consume_1_and_2_with_dataset_expressions", start_date=start, schedule=(dag1_dataset & dag2_dataset)):
    BashOperator(task_id="consume_1_and_2_with_dataset_expressions", bash_command="sleep 0")
"""


def add_dataset_dags(settings: Settings) -> None:
    settings.dags_folder.mkdir(parents=True, exist_ok=True)
    (settings.dags_folder / "golden_datasets.py").write_text(SOURCE)
    report = process_all(settings)
    assert not report.import_errors, report.import_errors


def build_datasets_template(home: Path, databases) -> str:
    return build_template_database(home, databases, prepare=add_dataset_dags)

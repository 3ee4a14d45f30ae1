"""The experimental task-instance endpoint for a mapped task: Airflow 2.10.5 looks up map_index -1,
which a mapped task no longer has, and answers 404 (task-model-semantics §11)."""

from __future__ import annotations

import textwrap

from slipstream.dag_processing import process_all
from tests.api.support import BASE, assert_error

MAPPED_DAG = """
from datetime import datetime
from airflow.decorators import task
from airflow.models.dag import DAG

with DAG(dag_id="mapped_api", schedule=None, start_date=datetime(2022, 3, 4)):
    @task
    def add_one(x: int):
        return x + 1

    @task
    def sum_it(values):
        return sum(values)

    sum_it(add_one.expand(x=[1, 2, 3]))
"""


def test_a_mapped_task_instance_is_not_found_and_its_reduce_is(client, app_settings):
    (app_settings.dags_folder / "mapped_api.py").write_text(textwrap.dedent(MAPPED_DAG))
    assert not process_all(app_settings).import_errors
    date = "2022-03-04T05:06:07+00:00"
    assert client.post(f"{BASE}/dags/mapped_api/dag_runs", json={"execution_date": date}).status_code == 200

    assert_error(
        client.get(f"{BASE}/dags/mapped_api/dag_runs/{date}/tasks/add_one"),
        404,
        "Task add_one instance for date 2022-03-04 05:06:07+00:00 not found",
    )
    response = client.get(f"{BASE}/dags/mapped_api/dag_runs/{date}/tasks/sum_it")
    assert response.status_code == 200
    assert response.json()["map_index"] == "-1"

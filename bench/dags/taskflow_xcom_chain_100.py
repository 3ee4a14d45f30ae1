"""A TaskFlow chain of 100 tasks, each adding one to the XCom its upstream returned (ends at 100).

Written in Airflow 2 style so the same file runs unchanged on Apache Airflow and on Slipstream:
the benchmark for how fast a run moves XComs down a long dependency chain.
"""

from __future__ import annotations

import pendulum
from airflow.decorators import dag, task

CHAIN_LENGTH = 100


@dag(
    dag_id="taskflow_xcom_chain_100",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
)
def taskflow_xcom_chain_100():
    @task
    def add_one(previous: int) -> int:
        return previous + 1

    value = 0
    for index in range(CHAIN_LENGTH):
        value = add_one.override(task_id=f"step_{index:03d}")(value)


taskflow_xcom_chain_100()

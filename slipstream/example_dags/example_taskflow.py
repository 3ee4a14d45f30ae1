"""Example DAG using TaskFlow: values pass between tasks as XComs, and a branch picks a path."""

from __future__ import annotations

import pendulum
from airflow.decorators import dag, task
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator


@dag(
    schedule=None,
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example"],
)
def example_taskflow(threshold: int = 100):
    """
    ### TaskFlow

    `extract` returns a dict, `transform` gets it as an argument and returns two values
    (`multiple_outputs`), `load` gets one of them; `check` branches on the total against the
    DAG param `threshold` (trigger with `{"conf": {"threshold": 10}}` to take the other branch).
    """

    @task()
    def extract() -> dict[str, float]:
        return {"1001": 301.27, "1002": 433.21, "1003": 502.22}

    @task(multiple_outputs=True)
    def transform(order_data: dict) -> dict[str, float]:
        return {"total": sum(order_data.values()), "count": len(order_data)}

    @task()
    def load(total: float) -> str:
        return f"Total order value is: {total:.2f}"

    @task.branch()
    def check(total: float, threshold) -> str:
        return "big_total" if total > threshold else "small_total"

    summary = transform(extract())
    report = load(summary["total"])
    echo = BashOperator(task_id="echo_report", bash_command="echo {{ ti.xcom_pull(task_ids='load') }}")
    report >> echo
    check(summary["total"], threshold) >> [EmptyOperator(task_id="big_total"), EmptyOperator(task_id="small_total")]


example_taskflow()

"""Example DAG using the PythonOperator: Airflow 2.10.5's `example_python_operator`, without the
SQL-template and virtualenv tasks."""

from __future__ import annotations

import datetime
import time
from pprint import pprint

from airflow.models.dag import DAG
from airflow.operators.python import PythonOperator

with DAG(
    dag_id="example_python_operator",
    schedule=None,
    start_date=datetime.datetime(2021, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
    tags=["example"],
) as dag:

    def print_context(ds=None, **kwargs):
        """Print the task context and the ds variable from the context."""
        pprint(kwargs)
        print(ds)
        return "Whatever you return gets printed in the logs"

    run_this = PythonOperator(task_id="print_the_context", python_callable=print_context)

    def my_sleeping_function(random_base):
        """Sleep for random_base seconds (given through op_kwargs)."""
        time.sleep(random_base)

    for i in range(5):
        sleeping_task = PythonOperator(
            task_id=f"sleep_for_{i}",
            python_callable=my_sleeping_function,
            op_kwargs={"random_base": i / 10},
        )
        run_this >> sleeping_task

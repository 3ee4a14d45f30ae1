"""Example DAG showing a pool: four tasks share `example_single_slot_pool`, so they run one at a time."""

from __future__ import annotations

import datetime

from airflow.models.dag import DAG
from airflow.operators.bash import BashOperator

DOC_MD = """
### Pools

Every task of this DAG runs in the pool `example_single_slot_pool`, which has **one** slot, so the
four tasks run one after another even though none depends on another.

The dag processor creates that pool (1 slot) when example DAGs are loaded and the pool does not
exist yet; it never changes a pool you already have. To make it yourself:
`POST /api/experimental/pools {"name": "example_single_slot_pool", "slots": 1}`.
A task whose pool does not exist stays `scheduled`.
"""

with DAG(
    dag_id="example_pool",
    schedule=None,
    start_date=datetime.datetime(2021, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
    tags=["example"],
    doc_md=DOC_MD,
) as dag:
    for i in range(4):
        BashOperator(
            task_id=f"sleep_in_pool_{i}",
            bash_command='echo "{{ task_instance_key_str }} holds the only slot" && sleep 0.5',
            pool="example_single_slot_pool",
        )

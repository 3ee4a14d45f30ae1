"""The DAG files the golden recording dropped into Airflow's DAG folder, rebuilt for Slipstream's tests.

`peer_throwaway` (patched, triggered and deleted), `peer_warning` (a task in a pool that does not
exist: a DAG warning) and `peer_broken_dag.py` (raises when imported: an import error). Written into
a DAGs folder and parsed by the real dag processor.
"""

from __future__ import annotations

from pathlib import Path

from slipstream.config import Settings

PEER_THROWAWAY = """
import datetime

from airflow.models.dag import DAG
from airflow.operators.empty import EmptyOperator

with DAG(
    dag_id="peer_throwaway",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    tags=["peer"],
):
    EmptyOperator(task_id="noop")
"""

PEER_WARNING = """
import datetime

from airflow.models.dag import DAG
from airflow.operators.empty import EmptyOperator

with DAG(
    dag_id="peer_warning",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    tags=["peer"],
):
    EmptyOperator(task_id="in_a_missing_pool", pool="peer_no_such_pool")
"""

PEER_BROKEN = """
# An airflow DAG file that cannot be imported.
from airflow.models.dag import DAG

raise RuntimeError("peer_broken_dag: deliberately broken for the /api/v1 importErrors golden transcripts")
"""

# Airflow's example_dynamic_task_mapping, as its example file defines it.
DYNAMIC_TASK_MAPPING = """
from datetime import datetime

from airflow.decorators import task
from airflow.models.dag import DAG

with DAG(dag_id="example_dynamic_task_mapping", schedule=None, start_date=datetime(2022, 3, 4)) as dag:

    @task
    def add_one(x: int):
        return x + 1

    @task
    def sum_it(values):
        total = sum(values)
        print(f"Total was {total}")

    added_values = add_one.expand(x=[1, 2, 3])
    sum_it(added_values)
"""

FILES = {
    "example_dynamic_task_mapping.py": DYNAMIC_TASK_MAPPING,
    "peer_throwaway.py": PEER_THROWAWAY,
    "peer_warning_dag.py": PEER_WARNING,
    "peer_broken_dag.py": PEER_BROKEN,
}


PEER_FILES = ("peer_throwaway.py", "peer_warning_dag.py", "peer_broken_dag.py")


def add_peer_dags(settings: Settings, names: tuple[str, ...] = PEER_FILES) -> None:
    """Write the files into the settings' DAGs folder and run one dag processor pass over it."""
    from slipstream.dag_processing import process_all

    folder = Path(settings.dags_folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(FILES[name])
    process_all(settings)

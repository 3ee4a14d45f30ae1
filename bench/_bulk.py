"""Bulk-generate stored runs and task instances (for the size benchmarks): `runs` runs spread over the
example DAGs plus one DAG holding `big_dag_runs` of them, `tis_per_run` finished task instances each.
Core INSERTs in chunks: a million task instances take seconds, not the hours triggering would."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence

from sqlalchemy import insert, select

from slipstream.storage.db import session_scope
from slipstream.storage.models import DagModel, DagRun, TaskInstance

START = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
CHUNK = 5000


def generate(
    database_url: str,
    dag_id: str,
    runs: int,
    tis_per_run: int,
    other_runs: int = 0,
    *,
    task_ids: Sequence[str] | None = None,
    other_dag_ids: Sequence[str] | None = None,
) -> None:
    """`runs` finished runs of `dag_id` (minute apart, from 2020), and `other_runs` spread over the other DAGs
    (every other stored DAG, or `other_dag_ids`). Task instances are `task_0`, `task_1`, ... or `task_ids`."""
    with session_scope(database_url, write=False) as session:
        others = [d for d in session.scalars(select(DagModel.dag_id).order_by(DagModel.dag_id)) if d != dag_id]
    if other_dag_ids is not None:
        others = list(other_dag_ids)
    names = list(task_ids) if task_ids is not None else [f"task_{t}" for t in range(tis_per_run)]
    plan = [(dag_id, n) for n in range(runs)]
    if others and other_runs:
        cycle = itertools.cycle(others)
        plan += [(next(cycle), runs + n) for n in range(other_runs)]
    for start in range(0, len(plan), CHUNK):
        chunk = plan[start : start + CHUNK]
        run_rows, ti_rows = [], []
        for dag, n in chunk:
            when = START + dt.timedelta(minutes=n)
            run_id = f"scheduled__{when.isoformat()}"
            run_rows.append(
                {"dag_id": dag, "run_id": run_id, "execution_date": when, "state": "success",
                 "run_type": "scheduled", "external_trigger": False, "conf": {}, "start_date": when,
                 "end_date": when + dt.timedelta(seconds=30), "data_interval_start": when,
                 "data_interval_end": when + dt.timedelta(minutes=1), "queued_at": when}
            )  # fmt: skip
            for task_id in names:
                ti_rows.append(
                    {"dag_id": dag, "run_id": run_id, "task_id": task_id, "map_index": -1, "state": "success",
                     "try_number": 1, "max_tries": 0, "start_date": when, "end_date": when, "duration": 1.0,
                     "executor_config": {}, "pool": "default_pool", "queue": "default", "operator": "BashOperator"}
                )  # fmt: skip
        with session_scope(database_url) as session:
            session.execute(insert(DagRun), run_rows)
            if ti_rows:
                session.execute(insert(TaskInstance), ti_rows)

"""Pools, paused DAGs and max_active_runs on real runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from slipstream.storage.db import session_scope
from slipstream.storage.models import Pool
from tests.engine.support import (
    add_dag,
    read_runs,
    set_paused,
    task_instances,
    ti_states,
    trigger,
    wait_for,
    wait_for_run,
)

POOL_DAG = """
import json
import os
import time
from datetime import UTC, datetime

from slipstream.sdk import DAG, PythonOperator

OUT = {out!r}

def record(name):
    start = time.time()
    time.sleep({sleep})
    end = time.time()
    with open(os.path.join(OUT, name), "w") as handle:
        json.dump([start, end], handle)

with DAG("{dag_id}", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
    for i in range(3):
        PythonOperator(task_id=f"t{{i}}", python_callable=record, op_args=[f"t{{i}}"], pool="{pool}")
"""

SLEEPY_DAG = """
from datetime import UTC, datetime

from slipstream.sdk import DAG, BashOperator

START = datetime(2024, 1, 1, tzinfo=UTC)

with DAG("{dag_id}", schedule=None, start_date=START, max_active_runs={max_active_runs}) as dag:
    BashOperator(task_id="nap", bash_command="sleep {sleep}")
"""


def add_pool(settings, name: str, slots: int) -> None:
    with session_scope(settings.database_url) as db:
        db.add(Pool(pool=name, slots=slots, description=name, include_deferred=False))


def intervals(folder) -> list[tuple[float, float]]:
    return sorted(tuple(json.loads(path.read_text())) for path in folder.iterdir())


def max_overlap(spans: list[tuple[float, float]]) -> int:
    points = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    current = best = 0
    for _, delta in points:
        current += delta
        best = max(best, current)
    return best


def test_a_one_slot_pool_runs_one_task_at_a_time(engine_settings, scheduler, tmp_path):
    out = tmp_path / "one"
    out.mkdir()
    add_pool(engine_settings, "one_slot", 1)
    add_dag(engine_settings, "pooled", POOL_DAG.format(out=str(out), sleep=0.3, dag_id="pooled", pool="one_slot"))
    run_id = trigger(engine_settings, "pooled")
    assert wait_for_run(engine_settings, "pooled", run_id) == "success"
    spans = intervals(out)
    assert len(spans) == 3
    assert max_overlap(spans) == 1, spans


def test_a_pool_with_unlimited_slots_does_not_limit(engine_settings, scheduler, tmp_path):
    out = tmp_path / "unlimited"
    out.mkdir()
    add_pool(engine_settings, "unlimited", -1)
    add_dag(engine_settings, "wide", POOL_DAG.format(out=str(out), sleep=1.0, dag_id="wide", pool="unlimited"))
    run_id = trigger(engine_settings, "wide")
    assert wait_for_run(engine_settings, "wide", run_id) == "success"
    assert max_overlap(intervals(out)) == 3


def test_a_paused_dags_run_stays_queued_until_unpaused(engine_settings, scheduler):
    add_dag(engine_settings, "sleepy", SLEEPY_DAG.format(dag_id="sleepy", max_active_runs=16, sleep=0))
    set_paused(engine_settings, "sleepy", True)
    run_id = trigger(engine_settings, "sleepy")
    # Let the scheduler go round many times: the run must not move.
    seen = scheduler.job.stats.iterations
    wait_for(lambda: scheduler.job.stats.iterations >= seen + 30, 10, "30 scheduler loops")
    assert [r.state for r in read_runs(engine_settings, "sleepy")] == ["queued"]
    assert ti_states(engine_settings, "sleepy", run_id) == {"nap": None}

    set_paused(engine_settings, "sleepy", False)
    assert wait_for_run(engine_settings, "sleepy", run_id) == "success"
    assert task_instances(engine_settings, "sleepy", run_id)["nap"].try_number == 1


def test_max_active_runs_holds(engine_settings, scheduler):
    add_dag(engine_settings, "one_at_a_time", SLEEPY_DAG.format(dag_id="one_at_a_time", max_active_runs=1, sleep=0.3))
    run_ids = [
        trigger(engine_settings, "one_at_a_time", execution_date=datetime(2024, 1, day, tzinfo=UTC))
        for day in (1, 2, 3)
    ]
    for run_id in run_ids:
        assert wait_for_run(engine_settings, "one_at_a_time", run_id) == "success"
    runs = sorted(read_runs(engine_settings, "one_at_a_time"), key=lambda r: r.start_date)
    # Oldest logical date first, and never two running at once.
    assert [r.run_id for r in runs] == run_ids
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert earlier.end_date <= later.start_date

"""Queue order: priority_weight first (engine-semantics §4), one slot at a time."""

from __future__ import annotations

from slipstream.scheduler.loop import SchedulerThread
from tests.engine.support import add_dag, task_instances, trigger, wait_for_run

PRIORITY_DAG = """
from datetime import UTC, datetime

from slipstream.sdk import DAG, BashOperator

with DAG("priorities", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
    for name, weight in [("low", 1), ("high", 10), ("middle", 5)]:
        BashOperator(task_id=name, bash_command="true", priority_weight=weight, weight_rule="absolute")
"""


def test_higher_priority_runs_first(engine_settings):
    settings = engine_settings.with_overrides(parallelism=1)
    add_dag(settings, "priorities", PRIORITY_DAG)
    run_id = trigger(settings, "priorities")
    scheduler = SchedulerThread(settings)
    scheduler.start()
    try:
        assert wait_for_run(settings, "priorities", run_id) == "success"
    finally:
        scheduler.stop()
    tis = task_instances(settings, "priorities", run_id)
    assert [t for t, _ in sorted(tis.items(), key=lambda item: item[1].start_date)] == ["high", "middle", "low"]
    assert {t: ti.priority_weight for t, ti in tis.items()} == {"low": 1, "high": 10, "middle": 5}

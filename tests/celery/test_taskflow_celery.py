"""TaskFlow values passed as XComs between tasks run by a Celery worker."""

from __future__ import annotations

from tests.celery.support import start_scheduler, start_worker
from tests.engine.support import add_dag, trigger, wait_for_run
from tests.engine.test_taskflow_e2e import TASKFLOW_DAG, assert_taskflow_run


def test_taskflow_on_a_celery_worker(settings, redis_broker):
    add_dag(settings, "taskflow_etl", TASKFLOW_DAG)
    run_id = trigger(settings, "taskflow_etl", conf={"multiplier": 10})
    with start_worker(settings, redis_broker), start_scheduler(settings, redis_broker):
        assert wait_for_run(settings, "taskflow_etl", run_id, timeout=90) == "success"
    assert_taskflow_run(settings, run_id)

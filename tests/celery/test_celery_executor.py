"""The Celery executor with real processes: `slipstream scheduler` (SLIPSTREAM_EXECUTOR=celery) and
`slipstream worker` on Redis (and once on RabbitMQ), against the test's database."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from slipstream.scheduler.loop import make_executor
from tests.celery.support import start_scheduler, start_worker
from tests.engine.support import (
    add_dag,
    read_log,
    sync_dags,
    task_instances,
    ti_states,
    trigger,
    wait_for,
    wait_for_run,
)

BASH_STATES = {
    "runme_0": "success",
    "runme_1": "success",
    "runme_2": "success",
    "run_after_loop": "success",
    "also_run_this": "success",
    "this_will_skip": "skipped",
    "run_this_last": "skipped",
}


def test_example_bash_operator_runs_on_a_celery_worker(settings, redis_broker):
    settings = settings.with_overrides(load_examples=True)
    sync_dags(settings)
    run_id = trigger(settings, "example_bash_operator")
    with start_worker(settings, redis_broker) as worker, start_scheduler(settings, redis_broker):
        assert wait_for_run(settings, "example_bash_operator", run_id, timeout=45) == "success"
    tis = task_instances(settings, "example_bash_operator", run_id)
    assert {task_id: ti.state for task_id, ti in tis.items()} == BASH_STATES
    assert all(ti.try_number == 1 for task_id, ti in tis.items() if task_id != "run_this_last")
    assert tis["runme_0"].hostname and tis["runme_0"].pid
    log = read_log(settings, "example_bash_operator", run_id, "runme_0")
    assert "example_bash_operator__runme_0__" in log and "Marking task as SUCCESS" in log
    assert "Running example_bash_operator.runme_0" in worker.output()


ROUTING_DAG = """
from datetime import UTC, datetime

from slipstream.sdk import DAG, BashOperator

with DAG("routing", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
    BashOperator(task_id="on_other", bash_command="echo routed", queue="other")
    BashOperator(task_id="nowhere", bash_command="echo never", queue="nowhere", retries=0)
"""


def test_a_task_goes_to_the_workers_of_its_queue(settings, redis_broker):
    add_dag(settings, "routing", ROUTING_DAG)
    run_id = trigger(settings, "routing")
    with start_worker(settings, redis_broker, queues="other") as worker, start_scheduler(settings, redis_broker):
        wait_for(lambda: ti_states(settings, "routing", run_id)["on_other"] == "success", 30, "on_other to succeed")
        # No worker consumes "nowhere": the try waits in the broker, the instance stays queued.
        wait_for(lambda: ti_states(settings, "routing", run_id)["nowhere"] == "queued", 10, "nowhere to be queued")
        with pytest.raises(AssertionError):
            wait_for(lambda: ti_states(settings, "routing", run_id)["nowhere"] != "queued", 2, "nowhere to move")
        # SIGTERM stops the worker (a warm shutdown: nothing is running here).
        worker.popen.send_signal(signal.SIGTERM)
        assert worker.popen.wait(20) == 0, worker.output()
    tis = task_instances(settings, "routing", run_id)
    assert tis["on_other"].queue == "other" and tis["on_other"].hostname


def test_a_try_stuck_in_queued_is_sent_again_then_failed(settings, redis_broker):
    add_dag(settings, "routing", ROUTING_DAG)
    run_id = trigger(settings, "routing")
    with start_scheduler(settings, redis_broker, SLIPSTREAM_TASK_QUEUED_TIMEOUT="1") as scheduler:
        wait_for(lambda: ti_states(settings, "routing", run_id)["nowhere"] == "failed", 20, "nowhere to fail")
        assert "sending it again" in scheduler.output()
    assert "Task stuck in queued for more than 1 s" in read_log(settings, "routing", run_id, "nowhere", 1)


KILL_DAG = """
from datetime import UTC, datetime, timedelta

from slipstream.sdk import DAG, BashOperator

SLEEP_ON_FIRST_TRY = 'if [ "$AIRFLOW_CTX_TRY_NUMBER" = "1" ]; then sleep 30; fi'

with DAG("killed", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
    BashOperator(
        task_id="retried", bash_command=SLEEP_ON_FIRST_TRY, retries=1, retry_delay=timedelta(seconds=0.1)
    )
    BashOperator(task_id="not_retried", bash_command=SLEEP_ON_FIRST_TRY, retries=0)
"""


def test_a_worker_killed_mid_task_leads_to_retry_or_failure(settings, redis_broker):
    """The worker's host dies (worker and task processes SIGKILLed): no heartbeat, so the scheduler's
    zombie detection applies handle_failure; a new worker runs the retry. Nothing stays running."""
    add_dag(settings, "killed", KILL_DAG)
    run_id = trigger(settings, "killed")
    with start_scheduler(settings, redis_broker):
        with start_worker(settings, redis_broker, name="worker-1") as first:
            tis = wait_for(
                lambda: (
                    (t := task_instances(settings, "killed", run_id))
                    and all(ti.state == "running" and ti.pid for ti in t.values())
                    and t
                ),
                30,
                "both tasks to run",
            )
            first.kill(signal.SIGKILL)
            for ti in tis.values():
                try:
                    os.killpg(ti.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            first.popen.wait(10)
        with start_worker(settings, redis_broker, name="worker-2"):
            assert wait_for_run(settings, "killed", run_id, timeout=40) == "failed"
    tis = task_instances(settings, "killed", run_id)
    assert (tis["retried"].state, tis["retried"].try_number) == ("success", 2)
    assert (tis["not_retried"].state, tis["not_retried"].try_number) == ("failed", 1)
    for task_id in tis:
        assert "Detected zombie" in read_log(settings, "killed", run_id, task_id, 1)


SHORT_DAG = """
from datetime import UTC, datetime

from slipstream.sdk import DAG, BashOperator

with DAG("short", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
    BashOperator(task_id="sleeps", bash_command="sleep 4", retries=1)
"""


def test_a_task_outlives_its_killed_worker_and_records_itself(settings, redis_broker):
    """Only the worker's process group is killed: the task process (its own group, as under the
    LocalExecutor) goes on alone, heartbeats and records its outcome; no retry is needed."""
    add_dag(settings, "short", SHORT_DAG)
    run_id = trigger(settings, "short")
    with start_scheduler(settings, redis_broker), start_worker(settings, redis_broker) as worker:
        wait_for(lambda: ti_states(settings, "short", run_id)["sleeps"] == "running", 30, "the task to run")
        worker.kill(signal.SIGKILL)
        # Longer than the zombie threshold (3 s): the heartbeat goes on without the worker.
        assert wait_for_run(settings, "short", run_id, timeout=30) == "success"
    ti = task_instances(settings, "short", run_id)["sleeps"]
    assert (ti.state, ti.try_number) == ("success", 1)
    log = read_log(settings, "short", run_id, "sleeps", 1)
    assert "records its own heartbeat and outcome" in log and "Detected zombie" not in log


def test_a_delivery_for_a_try_no_longer_queued_does_nothing(settings):
    from sqlalchemy import update

    from slipstream.scheduler.executors.celery_app import run_task_instance
    from slipstream.storage.db import session_scope
    from slipstream.storage.models import TaskInstance

    add_dag(settings, "routing", ROUTING_DAG)
    run_id = trigger(settings, "routing")
    with session_scope(settings.database_url) as db:
        db.execute(
            update(TaskInstance)
            .where(TaskInstance.run_id == run_id, TaskInstance.task_id == "on_other")
            .values(state="success", try_number=1)
        )
        ti_id = db.scalar(
            TaskInstance.__table__.select()
            .with_only_columns(TaskInstance.id)
            .where(TaskInstance.run_id == run_id, TaskInstance.task_id == "on_other")
        )
    request = {"ti_id": ti_id, "try_number": 1, "dag_id": "routing", "task_id": "on_other", "run_id": run_id}
    assert run_task_instance(settings, request) == "not queued"
    assert run_task_instance(settings, {**request, "try_number": 2}) == "not queued"
    assert ti_states(settings, "routing", run_id)["on_other"] == "success"
    assert read_log(settings, "routing", run_id, "on_other", 1) == ""


def test_an_unknown_executor_is_refused(settings):
    with pytest.raises(ValueError, match="SLIPSTREAM_EXECUTOR='bogus' is not supported; use 'local' or 'celery'"):
        make_executor(settings.with_overrides(executor="bogus"))


RABBIT_DAG = """
from datetime import UTC, datetime

from slipstream.sdk import DAG, BashOperator

with DAG("on_rabbit", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
    BashOperator(task_id="hello", bash_command="echo hello from rabbit", queue="{queue}")
"""


def test_a_dag_runs_through_rabbitmq(settings, rabbitmq_broker):
    queue = f"slipstream-test-{uuid.uuid4().hex[:12]}"
    add_dag(settings, "on_rabbit", RABBIT_DAG.format(queue=queue))
    run_id = trigger(settings, "on_rabbit")
    try:
        with start_worker(settings, rabbitmq_broker, queues=queue), start_scheduler(settings, rabbitmq_broker):
            assert wait_for_run(settings, "on_rabbit", run_id, timeout=30) == "success"
    finally:
        from kombu import Connection

        with Connection(rabbitmq_broker, connect_timeout=3) as connection:
            try:
                connection.default_channel.queue_delete(queue)
            except Exception:
                pass
    assert "hello from rabbit" in read_log(settings, "on_rabbit", run_id, "hello", 1)


def test_a_broker_that_does_not_answer_gives_the_try_back(settings):
    from slipstream.scheduler.executors.celery_executor import CeleryExecutor
    from slipstream.scheduler.queueing import QueuedTask

    executor = CeleryExecutor(settings.with_overrides(celery_broker_url="redis://127.0.0.1:1/0"))
    executor.start()
    task = QueuedTask(
        ti_id=1,
        dag_id="d",
        task_id="t",
        run_id="r",
        map_index=-1,
        try_number=1,
        priority_weight=1,
        pool="default_pool",
        queue="default",
        fileloc=str(settings.dags_folder / "d.py"),
    )
    started = time.monotonic()
    executor.queue_task(task)
    executor.heartbeat()
    assert time.monotonic() - started < 10
    assert [(e.key, e.kind) for e in executor.get_events()] == [((1, 1), "lost")]
    assert executor.open_slots == 0 and not executor.running
    assert executor.end(0) == []

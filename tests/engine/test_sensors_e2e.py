"""Sensors on real runs (task-model-semantics §9): reschedule mode frees its slots between pokes."""

from __future__ import annotations

from sqlalchemy import select

from slipstream.storage.db import session_scope
from slipstream.storage.models import Pool, TaskReschedule
from tests.engine.support import add_dag, read_log, task_instances, ti_states, trigger, wait_for_run


def add_pool(settings, name: str, slots: int) -> None:
    with session_scope(settings.database_url) as db:
        db.add(Pool(pool=name, slots=slots, description=name, include_deferred=False))


def reschedules(settings, dag_id: str, run_id: str) -> list[TaskReschedule]:
    with session_scope(settings.database_url, write=False) as db:
        return list(
            db.scalars(
                select(TaskReschedule)
                .where(TaskReschedule.dag_id == dag_id, TaskReschedule.run_id == run_id)
                .order_by(TaskReschedule.id)
            )
        )


SHARED_POOL_DAG = """
import os
import time
from datetime import datetime

import pendulum
from airflow import DAG
from airflow.operators.python import PythonOperator
from airflow.sensors.python import PythonSensor

FLAG = {flag!r}

def flag_is_there():
    return os.path.exists(FLAG)

def raise_flag():
    time.sleep(0.5)
    with open(FLAG, "w") as handle:
        handle.write("up")

with DAG("shared_pool", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    PythonSensor(
        task_id="wait_for_flag",
        python_callable=flag_is_there,
        mode="reschedule",
        poke_interval=0.5,
        timeout=60,
        pool="only_one",
        priority_weight=10,
    )
    PythonOperator(task_id="raise_flag", python_callable=raise_flag, pool="only_one")
"""


def test_a_reschedule_sensor_holds_no_slot_while_it_waits(engine_settings, scheduler, tmp_path):
    flag = tmp_path / "flag"
    add_pool(engine_settings, "only_one", 1)
    add_dag(engine_settings, "shared_pool", SHARED_POOL_DAG.format(flag=str(flag)))
    run_id = trigger(engine_settings, "shared_pool")
    # With one slot, the flag can only be raised while the sensor waits without holding it.
    assert wait_for_run(engine_settings, "shared_pool", run_id, timeout=60) == "success"
    tis = task_instances(engine_settings, "shared_pool", run_id)
    sensor, raiser = tis["wait_for_flag"], tis["raise_flag"]
    assert sensor.state == "success" and raiser.state == "success"
    assert sensor.try_number == 1  # a reschedule keeps the try
    rows = reschedules(engine_settings, "shared_pool", run_id)
    assert rows, "the sensor was never rescheduled"
    assert all(row.try_number == 1 for row in rows)
    assert all(row.reschedule_date > row.start_date for row in rows)
    # The first poke happened before the flag was raised: the other task ran while the sensor waited.
    assert rows[0].start_date < raiser.end_date


TIMEOUT_DAG = """
from datetime import timedelta

import pendulum
from airflow import DAG
from airflow.sensors.base import BaseSensorOperator
from airflow.sensors.bash import BashSensor


class Never(BaseSensorOperator):
    def poke(self, context):
        return False


with DAG("sensor_timeouts", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    Never(task_id="reschedule_timeout", mode="reschedule", poke_interval=0.3, timeout=1.5, retries=3,
          retry_delay=timedelta(seconds=0))
    Never(task_id="soft_timeout", mode="reschedule", poke_interval=0.3, timeout=1, soft_fail=True)
    Never(task_id="poke_timeout", poke_interval=0.2, timeout=0.5)
    BashSensor(task_id="bash_bad_exit", bash_command="exit 1", retry_exit_code=2, poke_interval=0.1)
    BashSensor(task_id="bash_done", bash_command="test -n \\"$HOME\\" || exit 0", poke_interval=0.1, timeout=5)
"""


def test_sensor_timeouts_fail_without_retry_or_skip_under_soft_fail(engine_settings, scheduler):
    add_dag(engine_settings, "sensor_timeouts", TIMEOUT_DAG)
    run_id = trigger(engine_settings, "sensor_timeouts")
    assert wait_for_run(engine_settings, "sensor_timeouts", run_id, timeout=60) == "failed"
    states = ti_states(engine_settings, "sensor_timeouts", run_id)
    assert states == {
        "reschedule_timeout": "failed",
        "soft_timeout": "skipped",
        "poke_timeout": "failed",
        "bash_bad_exit": "failed",
        "bash_done": "success",
    }
    tis = task_instances(engine_settings, "sensor_timeouts", run_id)
    assert tis["reschedule_timeout"].try_number == 1  # the timeout counted the waits, and was not retried
    log = read_log(engine_settings, "sensor_timeouts", run_id, "reschedule_timeout")
    assert "Sensor has timed out; run duration of" in log and "exceeds the specified timeout of 1.5." in log
    assert "Command exited with return code 1" in read_log(engine_settings, "sensor_timeouts", run_id, "bash_bad_exit")


EXTERNAL_DAGS = """
from datetime import timedelta

import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.sensors.external_task import ExternalTaskMarker, ExternalTaskSensor

START = pendulum.datetime(2024, 1, 1, tz="UTC")

with DAG("upstream_dag", schedule=None, start_date=START) as upstream:
    BashOperator(task_id="produce", bash_command="sleep 1")
    BashOperator(task_id="breaks", bash_command="exit 1")
    ExternalTaskMarker(task_id="marker", external_dag_id="downstream_dag", external_task_id="wait_for_produce")

with DAG("downstream_dag", schedule=None, start_date=START) as downstream:
    ExternalTaskSensor(
        task_id="wait_for_produce", external_dag_id="upstream_dag", external_task_id="produce",
        mode="reschedule", poke_interval=0.3, timeout=60,
    )
    ExternalTaskSensor(
        task_id="wait_for_breaks", external_dag_id="upstream_dag", external_task_id="breaks",
        failed_states=["failed"], poke_interval=0.3, timeout=60,
    )
    ExternalTaskSensor(
        task_id="wait_for_run", external_dag_id="upstream_dag", allowed_states=["success", "failed"],
        poke_interval=0.3, timeout=60,
    )
    ExternalTaskSensor(
        task_id="deferred_wait", external_dag_id="upstream_dag", external_task_id="produce",
        deferrable=True, poll_interval=0.3,
    )
    ExternalTaskSensor(
        task_id="wait_a_day_earlier", external_dag_id="upstream_dag", external_task_id="produce",
        execution_delta=timedelta(days=1), poke_interval=0.3, timeout=1, soft_fail=True,
    )
"""


def test_external_task_sensors_follow_the_other_dags_run_at_the_same_logical_date(engine_settings, scheduler):
    from datetime import UTC, datetime

    from slipstream.scheduler.triggerer import TriggererThread

    add_dag(engine_settings, "external", EXTERNAL_DAGS)
    when = datetime(2024, 6, 1, tzinfo=UTC)
    triggerer = TriggererThread(engine_settings, interval=0.2)
    triggerer.start()
    try:
        down = trigger(engine_settings, "downstream_dag", execution_date=when)
        up = trigger(engine_settings, "upstream_dag", execution_date=when)
        assert wait_for_run(engine_settings, "upstream_dag", up, timeout=60) == "failed"
        assert wait_for_run(engine_settings, "downstream_dag", down, timeout=60) == "failed"
    finally:
        triggerer.stop()
    assert ti_states(engine_settings, "downstream_dag", down) == {
        "wait_for_produce": "success",
        "wait_for_breaks": "failed",
        "wait_for_run": "success",
        "deferred_wait": "success",
        "wait_a_day_earlier": "skipped",
    }
    assert "Some of the external tasks ['breaks'] in DAG upstream_dag failed." in read_log(
        engine_settings, "downstream_dag", down, "wait_for_breaks"
    )
    assert ti_states(engine_settings, "upstream_dag", up)["marker"] == "success"
    assert "Pausing task as DEFERRED" in read_log(engine_settings, "downstream_dag", down, "deferred_wait")

"""Deferral on real runs (task-model-semantics §10): a deferred try holds no slot, survives its
triggerer's death, and resumes in the named method with the same try and its XComs."""

from __future__ import annotations

from sqlalchemy import select

from slipstream.scheduler.triggerer import TriggererThread
from slipstream.storage.db import session_scope
from slipstream.storage.models import Pool, TaskInstance, Trigger
from tests.engine.support import FAST_TIMERS, add_dag, read_log, task_instances, trigger, wait_for, wait_for_run
from tests.live_server import SLIPSTREAM, Process, environment

DEFERRING_DAG = """
from datetime import timedelta

import pendulum
from airflow import DAG
from airflow.models.baseoperator import BaseOperator
from airflow.operators.python import PythonOperator
from airflow.triggers.temporal import TimeDeltaTrigger


class WaitThenReport(BaseOperator):
    def __init__(self, *, seconds, **kwargs):
        super().__init__(**kwargs)
        self.seconds = seconds

    def execute(self, context):
        context["ti"].xcom_push(key="before", value="pushed before deferring")
        self.defer(
            trigger=TimeDeltaTrigger(timedelta(seconds=self.seconds)),
            method_name="resume",
            kwargs=dict(asked=self.seconds),
        )

    def resume(self, context, event=None, asked=None):
        before = context["ti"].xcom_pull(task_ids=self.task_id, key="before")
        return dict(try_=context["ti"].try_number, before=before, asked=asked, event_is_a_date=event is not None)


with DAG("deferring", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    WaitThenReport(task_id="wait", seconds={seconds}, pool="{pool}", priority_weight=5)
    PythonOperator(task_id="meanwhile", python_callable=lambda: "ran", pool="{pool}")
"""


def add_pool(settings, name: str, slots: int, include_deferred: bool = False) -> None:
    with session_scope(settings.database_url) as db:
        db.add(Pool(pool=name, slots=slots, description=name, include_deferred=include_deferred))


def ti_row(settings, dag_id: str, run_id: str, task_id: str) -> TaskInstance | None:
    return task_instances(settings, dag_id, run_id).get(task_id)


def triggerer_process(settings, name: str) -> Process:
    env = environment(settings, **FAST_TIMERS)
    return Process([*SLIPSTREAM, "triggerer"], env, settings.home / f"{name}.log")


def test_a_deferred_task_survives_a_triggerer_sigkill_and_resumes_with_its_try_and_xcoms(engine_settings, scheduler):
    add_pool(engine_settings, "only_one", 1)
    add_dag(engine_settings, "deferring", DEFERRING_DAG.format(seconds=4, pool="only_one"))
    first = triggerer_process(engine_settings, "triggerer1")
    try:
        run_id = trigger(engine_settings, "deferring")

        def claimed_trigger():
            with session_scope(engine_settings.database_url, write=False) as db:
                return db.scalar(select(Trigger.triggerer_id).where(Trigger.triggerer_id.is_not(None)))

        wait_for(claimed_trigger, 30, "the first triggerer to take the trigger")
        ti = ti_row(engine_settings, "deferring", run_id, "wait")
        assert ti.state == "deferred" and ti.next_method == "resume" and ti.try_number == 1
        # The deferred try holds no slot of the one-slot pool: the other task runs meanwhile.
        wait_for(
            lambda: ti_row(engine_settings, "deferring", run_id, "meanwhile").state == "success",
            30,
            "the other task to run while the first is deferred",
        )
        assert ti_row(engine_settings, "deferring", run_id, "wait").state == "deferred"
        first.kill()  # SIGKILL: no chance to hand its triggers back
    finally:
        first.stop()
    with triggerer_process(engine_settings, "triggerer2") as second:
        assert wait_for_run(engine_settings, "deferring", run_id, timeout=60) == "success", second.output()
    ti = ti_row(engine_settings, "deferring", run_id, "wait")
    assert ti.state == "success" and ti.try_number == 1
    with session_scope(engine_settings.database_url, write=False) as db:
        assert db.scalars(select(Trigger)).all() == []  # fired triggers are removed
    log = read_log(engine_settings, "deferring", run_id, "wait")
    assert "Pausing task as DEFERRED" in log
    with session_scope(engine_settings.database_url, write=False) as db:
        from slipstream.storage.models import XCom as XComRow

        value = db.scalar(
            select(XComRow.value).where(
                XComRow.dag_id == "deferring",
                XComRow.run_id == run_id,
                XComRow.task_id == "wait",
                XComRow.key == "return_value",
            )
        )
    assert '"try_": 1' in value and "pushed before deferring" in value and '"asked": 4' in value
    assert '"event_is_a_date": true' in value


TIMEOUT_DAG = """
from datetime import timedelta

import pendulum
from airflow import DAG
from airflow.models.baseoperator import BaseOperator
from airflow.sensors.time_delta import TimeDeltaSensorAsync
from airflow.triggers.temporal import TimeDeltaTrigger


class WaitTooLong(BaseOperator):
    def execute(self, context):
        self.defer(trigger=TimeDeltaTrigger(timedelta(hours=1)), method_name="resume", timeout=timedelta(seconds=1))

    def resume(self, context, event=None):
        return "never"


with DAG("deferral_timeouts", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    WaitTooLong(task_id="too_long")
    TimeDeltaSensorAsync(task_id="async_sensor", delta=timedelta(seconds=-3600 * 24 * 365 * 100))
"""


def test_a_trigger_timeout_fails_the_task(engine_settings, scheduler):
    add_dag(engine_settings, "deferral_timeouts", TIMEOUT_DAG)
    triggerer = TriggererThread(engine_settings, interval=0.2)
    triggerer.start()
    try:
        run_id = trigger(engine_settings, "deferral_timeouts")
        assert wait_for_run(engine_settings, "deferral_timeouts", run_id, timeout=60) == "failed"
    finally:
        triggerer.stop()
    tis = task_instances(engine_settings, "deferral_timeouts", run_id)
    assert tis["too_long"].state == "failed" and tis["too_long"].try_number == 1
    assert "Trigger/execution timeout" in read_log(engine_settings, "deferral_timeouts", run_id, "too_long")
    assert tis["async_sensor"].state == "success"


def test_a_pool_with_include_deferred_counts_the_deferred_try(engine_settings, scheduler):
    add_pool(engine_settings, "counts_deferred", 1, include_deferred=True)
    add_dag(engine_settings, "deferring", DEFERRING_DAG.format(seconds=2, pool="counts_deferred"))
    triggerer = TriggererThread(engine_settings, interval=0.2)
    triggerer.start()
    try:
        run_id = trigger(engine_settings, "deferring")
        assert wait_for_run(engine_settings, "deferring", run_id, timeout=60) == "success"
    finally:
        triggerer.stop()
    tis = task_instances(engine_settings, "deferring", run_id)
    # "wait" goes first (priority); its deferred try kept the pool's one slot, so the other task
    # started only once it had resumed and finished.
    assert tis["meanwhile"].start_date >= tis["wait"].end_date

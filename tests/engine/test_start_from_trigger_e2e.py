"""Starting from the triggerer (Airflow 2.10's start_from_trigger) on real runs: the scheduler defers
the instance itself, no worker runs `execute`, the triggerer fires the trigger and a worker resumes the
task in `next_method` (templates rendered then, as for any resumed try)."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from slipstream.scheduler.triggerer import TriggererThread
from slipstream.storage.db import session_scope
from slipstream.storage.models import TaskInstance, XCom
from tests.engine.support import add_dag, read_log, trigger, wait_for_run

DAG_FILE = """
from datetime import timedelta

import pendulum
from airflow import DAG
from airflow.models.baseoperator import BaseOperator
from airflow.sensors.date_time import DateTimeSensorAsync
from airflow.triggers.base import StartTriggerArgs

PAST = pendulum.datetime(2024, 1, 1, tz="UTC")


class StartsInTriggerer(BaseOperator):
    template_fields = ("note",)
    start_trigger_args = StartTriggerArgs(
        trigger_cls="airflow.triggers.temporal.DateTimeTrigger",
        trigger_kwargs={"moment": PAST},
        next_method="resume",
        next_kwargs={"extra": 7},
        timeout=timedelta(minutes=5),
    )
    start_from_trigger = True

    def __init__(self, *, note="{{ ds }}", **kwargs):
        super().__init__(**kwargs)
        self.note = note

    def execute(self, context):
        raise RuntimeError("execute ran on a worker")

    def resume(self, context, event=None, extra=None):
        return {"event": event.isoformat(), "extra": extra, "note": self.note, "try": context["ti"].try_number}


class ChoosesAtInit(BaseOperator):
    # Airflow's documented instance-level form: __init__ sets start_from_trigger and trigger_kwargs.
    start_trigger_args = StartTriggerArgs(
        trigger_cls="airflow.triggers.temporal.DateTimeTrigger",
        trigger_kwargs={"moment": PAST},
        next_method="execute",
        next_kwargs=None,
        timeout=None,
    )
    start_from_trigger = False

    def __init__(self, *, start_from_trigger=False, trigger_kwargs=None, **kwargs):
        super().__init__(**kwargs)
        self.start_from_trigger = start_from_trigger
        if trigger_kwargs is not None:
            self.start_trigger_args.trigger_kwargs = trigger_kwargs

    def execute(self, context, event=None):
        return {"event": None if event is None else event.isoformat()}


with DAG("starts_in_triggerer", schedule=None, start_date=PAST, default_args={"retries": 0}) as dag:
    StartsInTriggerer(task_id="class_level")
    ChoosesAtInit(task_id="on_a_worker")
    ChoosesAtInit(task_id="instance_level", start_from_trigger=True)
    ChoosesAtInit.partial(task_id="mapped").expand(
        start_from_trigger=[True, False],
    )
    DateTimeSensorAsync(task_id="sensor", target_time=PAST, start_from_trigger=True)
    ChoosesAtInit.partial(task_id="mapped_kwargs", start_from_trigger=True).expand(
        trigger_kwargs=[{"moment": PAST}, {"moment": PAST.add(days=1)}],
    )
"""


@pytest.fixture
def triggerer(engine_settings):
    thread = TriggererThread(engine_settings, interval=0.2)
    thread.start()
    yield thread
    thread.stop()


def _rows(settings, run_id):
    with session_scope(settings.database_url, write=False) as db:
        return {
            (ti.task_id, ti.map_index): (ti.state, ti.try_number)
            for ti in db.scalars(select(TaskInstance).where(TaskInstance.run_id == run_id))
        }


def _value(settings, run_id, task_id, map_index=-1):
    with session_scope(settings.database_url, write=False) as db:
        raw = db.scalar(
            select(XCom.value).where(
                XCom.run_id == run_id, XCom.task_id == task_id, XCom.map_index == map_index, XCom.key == "return_value"
            )
        )
    return json.loads(raw)


def test_start_from_trigger_defers_from_the_scheduler_and_resumes_on_a_worker(engine_settings, scheduler, triggerer):
    add_dag(engine_settings, "starts_in_triggerer", DAG_FILE)
    run_id = trigger(engine_settings, "starts_in_triggerer")
    assert wait_for_run(engine_settings, "starts_in_triggerer", run_id, timeout=90) == "success"
    rows = _rows(engine_settings, run_id)
    assert set(rows.values()) == {("success", 1)}, rows

    # The class-level start: next_method with next_kwargs plus the trigger's event; templates rendered
    # on the worker before the resumed method; one try only.
    resumed = _value(engine_settings, run_id, "class_level")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", resumed.pop("note"))  # "{{ ds }}", rendered
    assert resumed == {"event": "2024-01-01T00:00:00+00:00", "extra": 7, "try": 1}
    # No worker try deferred them: the only try resumed after the trigger fired.
    for task_id in ("class_level", "sensor"):
        log = read_log(engine_settings, "starts_in_triggerer", run_id, task_id)
        assert "Pausing task as DEFERRED" not in log and "execute ran on a worker" not in log
        assert "Marking task as SUCCESS" in log

    # next_method "execute": execute gets the event; an instance that does not start from the
    # triggerer runs execute on a worker with no event.
    assert _value(engine_settings, run_id, "instance_level") == {"event": "2024-01-01T00:00:00+00:00"}
    assert _value(engine_settings, run_id, "on_a_worker") == {"event": None}

    # Mapped: expand()'s start_from_trigger per index; trigger_kwargs from expand() reach each trigger.
    assert _value(engine_settings, run_id, "mapped", 0) == {"event": "2024-01-01T00:00:00+00:00"}
    assert _value(engine_settings, run_id, "mapped", 1) == {"event": None}
    assert _value(engine_settings, run_id, "mapped_kwargs", 0) == {"event": "2024-01-01T00:00:00+00:00"}
    assert _value(engine_settings, run_id, "mapped_kwargs", 1) == {"event": "2024-01-02T00:00:00+00:00"}

"""start_from_trigger without an engine: what the DAG file declares, what is serialized for the
scheduler, and how the scheduler turns it into a deferral (Airflow 2.10's StartTriggerArgs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pendulum
import pytest

from slipstream import airflow_namespace
from slipstream.scheduler.dag_specs import TaskSpec
from slipstream.scheduler.dagrun import start_from_trigger
from slipstream.sdk import DAG
from slipstream.sdk.operators import BaseOperator
from slipstream.sdk.sensors import DateTimeSensorAsync
from slipstream.sdk.serialization import serialize_dag
from slipstream.sdk.triggers.base import StartTriggerArgs

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)


class Starter(BaseOperator):
    start_trigger_args = StartTriggerArgs(
        trigger_cls="airflow.triggers.temporal.DateTimeTrigger",
        trigger_kwargs={"moment": datetime(2024, 1, 1, tzinfo=UTC)},
        next_method="resume",
        next_kwargs={"n": 1},
        timeout=timedelta(minutes=10),
    )
    start_from_trigger = True

    def __init__(self, *, start_from_trigger=True, trigger_kwargs=None, trigger_timeout=None, **kwargs):
        super().__init__(**kwargs)
        self.start_from_trigger = start_from_trigger


def _spec(dag, task_id):
    return TaskSpec.from_serialized(serialize_dag(dag)["tasks"][task_id])


def test_start_trigger_args_is_importable_as_in_airflow_2_10():
    airflow_namespace.install()
    from airflow.triggers.base import StartTriggerArgs as FromAirflow

    assert FromAirflow is StartTriggerArgs


def test_the_scheduler_defers_with_the_declared_trigger_and_a_timeout_capped_by_execution_timeout():
    with DAG("d", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
        Starter(task_id="plain")
        Starter(task_id="capped", execution_timeout=timedelta(minutes=2))
        Starter(task_id="off", start_from_trigger=False)
    values, (classpath, kwargs) = start_from_trigger(_spec(dag, "plain"), -1, NOW)
    assert classpath == "airflow.triggers.temporal.DateTimeTrigger"
    assert values["next_method"] == "resume" and values["start_date"] == NOW
    assert values["trigger_timeout"] == NOW + timedelta(minutes=10)
    assert kwargs["moment"]["__classname__"].endswith("datetime")
    assert start_from_trigger(_spec(dag, "capped"), -1, NOW)[0]["trigger_timeout"] == NOW + timedelta(minutes=2)
    # The instance attribute wins over the class's.
    assert start_from_trigger(_spec(dag, "off"), -1, NOW) is None


def test_a_mapped_operator_takes_partial_then_literal_expand_values_per_index():
    with DAG("m", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
        Starter.partial(task_id="by_expand").expand(start_from_trigger=[False, True])
        Starter.partial(task_id="by_partial", start_from_trigger=False).expand(trigger_kwargs=[{"a": 1}, {"a": 2}])
        Starter.partial(task_id="kwargs", trigger_timeout=timedelta(seconds=5)).expand(
            trigger_kwargs=[{"moment": 1}, {"moment": 2}]
        )
    assert start_from_trigger(_spec(dag, "by_expand"), 0, NOW) is None
    assert start_from_trigger(_spec(dag, "by_expand"), 1, NOW) is not None
    assert start_from_trigger(_spec(dag, "by_partial"), 1, NOW) is None
    values, (_, kwargs) = start_from_trigger(_spec(dag, "kwargs"), 1, NOW)
    assert kwargs == {"moment": 2} and values["trigger_timeout"] == NOW + timedelta(seconds=5)


def test_datetime_sensor_async_parses_its_target_at_parse_time_when_starting_from_the_triggerer():
    with DAG("s", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
        DateTimeSensorAsync(task_id="static", target_time="2024-03-01T00:00:00+00:00", start_from_trigger=True)
        DateTimeSensorAsync(task_id="worker", target_time="{{ ds }}")
    values, (classpath, kwargs) = start_from_trigger(_spec(dag, "static"), -1, NOW)
    assert classpath == "airflow.triggers.temporal.DateTimeTrigger" and values["next_method"] == "execute_complete"
    assert kwargs["end_from_trigger"] is False
    assert start_from_trigger(_spec(dag, "worker"), -1, NOW) is None
    # A template is not rendered for the scheduler: Airflow fails to parse it, so the DAG fails to import.
    with pytest.raises(ValueError):
        with DAG("t", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
            DateTimeSensorAsync(task_id="templated", target_time="{{ ds }}", start_from_trigger=True)

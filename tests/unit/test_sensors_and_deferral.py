"""Sensors, deferral and TriggerDagRunOperator without an engine: arguments, messages, the poke loop."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace

import pendulum
import pytest

from slipstream import airflow_namespace
from slipstream.scheduler.waiting import FAIL_METHOD, execute_or_resume
from slipstream.sdk import DAG
from slipstream.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferralError,
    TaskDeferred,
)
from slipstream.sdk.sensors import (
    BaseSensorOperator,
    BashSensor,
    DateTimeSensor,
    DateTimeSensorAsync,
    DayOfWeekSensor,
    ExternalTaskMarker,
    ExternalTaskSensor,
    FileSensor,
    PokeReturnValue,
    PythonSensor,
    TimeDeltaSensorAsync,
    TimeSensor,
)
from slipstream.sdk.trigger_dagrun import TriggerDagRunOperator
from slipstream.sdk.triggers import DateTimeTrigger, TaskSuccessEvent, TimeDeltaTrigger, TriggerEvent

START = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def dag():
    with DAG("sensing", schedule=None, start_date=START) as value:
        yield value


class Counting(BaseSensorOperator):
    """Done on the n-th poke."""

    def __init__(self, *, done_at: int, **kwargs):
        super().__init__(**kwargs)
        self.done_at = done_at
        self.pokes = 0

    def poke(self, context):
        self.pokes += 1
        return PokeReturnValue(self.pokes >= self.done_at, xcom_value=f"after {self.pokes}")


class Failing(BaseSensorOperator):
    def __init__(self, *, error: BaseException, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    def poke(self, context):
        raise self.error


class TestArguments:
    def test_a_negative_poke_interval_is_refused(self, dag):
        with pytest.raises(AirflowException, match="Operator arg `poke_interval` must be timedelta object"):
            Counting(task_id="s", done_at=1, poke_interval=-1)

    def test_a_bad_mode_names_the_modes_and_the_task(self, dag):
        with pytest.raises(AirflowException) as info:
            Counting(task_id="s", done_at=1, mode="sleep")
        assert str(info.value) == "The mode must be one of ['poke', 'reschedule'],'sensing.s'; received 'sleep'."

    def test_soft_fail_and_never_fail_exclude_each_other(self, dag):
        with pytest.raises(ValueError, match="soft_fail and never_fail are mutually exclusive"):
            Counting(task_id="s", done_at=1, soft_fail=True, never_fail=True)

    def test_defaults_are_airflows(self, dag):
        sensor = Counting(task_id="s", done_at=1)
        assert (sensor.poke_interval, sensor.timeout, sensor.mode) == (60.0, 604800.0, "poke")
        assert Counting(task_id="t", done_at=1, poke_interval=timedelta(minutes=2)).poke_interval == 120.0

    def test_date_time_sensor_wants_a_str_or_a_datetime(self, dag):
        with pytest.raises(TypeError, match="Expected str or datetime.datetime type for target_time. Got"):
            DateTimeSensor(task_id="s", target_time=12)
        assert DateTimeSensor(task_id="t", target_time=START).target_time == START.isoformat()

    def test_external_task_sensor_refuses_overlapping_states(self, dag):
        with pytest.raises(AirflowException, match="Duplicate values provided across allowed_states"):
            ExternalTaskSensor(
                task_id="s", external_dag_id="other", allowed_states=["success"], failed_states=["success"]
            )
        with pytest.raises(ValueError, match="Only one of `execution_delta` or `execution_date_fn`"):
            ExternalTaskSensor(
                task_id="t",
                external_dag_id="other",
                execution_delta=timedelta(1),
                execution_date_fn=lambda d: d,
            )

    def test_external_task_marker_checks_its_depth(self, dag):
        with pytest.raises(ValueError, match="recursion_depth should be a positive integer"):
            ExternalTaskMarker(task_id="m", external_dag_id="x", external_task_id="y", recursion_depth=0)

    def test_trigger_dag_run_operator_checks_the_logical_date_type(self, dag):
        with pytest.raises(TypeError, match="Expected str or datetime.datetime type for parameter 'logical_date'"):
            TriggerDagRunOperator(task_id="t", trigger_dag_id="x", logical_date=3)

    def test_trigger_dag_run_operator_refuses_a_conf_that_is_not_json(self, dag):
        operator = TriggerDagRunOperator(task_id="t", trigger_dag_id="x", conf={"when": object()})
        with pytest.raises(AirflowException, match="conf parameter should be JSON Serializable"):
            operator.execute({})


class TestPokeLoop:
    def test_poke_mode_pokes_until_done_and_returns_the_xcom_value(self, dag):
        sensor = Counting(task_id="s", done_at=3, poke_interval=0)
        assert sensor.execute({}) == "after 3"
        assert sensor.pokes == 3

    def test_a_timeout_fails_without_retry_or_skips_under_soft_fail(self, dag):
        with pytest.raises(AirflowSensorTimeout, match="Sensor has timed out; run duration of") as info:
            Counting(task_id="s", done_at=10**9, poke_interval=0.01, timeout=0.05).execute({})
        assert isinstance(info.value, AirflowFailException)  # the task runner does not retry these
        with pytest.raises(AirflowSkipException, match="Sensor has timed out"):
            Counting(task_id="t", done_at=10**9, poke_interval=0.01, timeout=0.05, soft_fail=True).execute({})

    def test_soft_fail_does_not_cover_other_errors(self, dag):
        with pytest.raises(ValueError):
            Failing(task_id="s", error=ValueError("boom"), soft_fail=True).execute({})
        with pytest.raises(AirflowSkipException, match="Skipping due to soft_fail is set to True."):
            Failing(task_id="t", error=AirflowFailException("no"), soft_fail=True).execute({})
        with pytest.raises(AirflowSkipException):
            Failing(task_id="u", error=ValueError("boom"), never_fail=True).execute({})

    def test_exponential_backoff_grows_and_respects_max_wait(self, dag):
        sensor = Counting(task_id="s", done_at=1, poke_interval=10, exponential_backoff=True, timeout=10**6)
        started = START
        intervals = [sensor._get_next_poke_interval(started, lambda: 0, n) for n in (2, 3, 4)]
        assert 10 <= intervals[0] < 20 and 20 <= intervals[1] < 40 and 40 <= intervals[2] < 80
        capped = Counting(task_id="t", done_at=1, poke_interval=10, exponential_backoff=True, max_wait=15)
        assert capped._get_next_poke_interval(started, lambda: 0, 5) == 15
        plain = Counting(task_id="u", done_at=1, poke_interval=7)
        assert plain._get_next_poke_interval(started, lambda: 0, 9) == 7


class TestCoreSensors:
    def test_python_sensor_passes_a_poke_return_value_through(self, dag):
        sensor = PythonSensor(task_id="s", python_callable=lambda: PokeReturnValue(True, {"a": 1}))
        assert sensor.execute({}) == {"a": 1}
        assert PythonSensor(task_id="t", python_callable=lambda: "yes").poke({}).is_done

    def test_bash_sensor_exit_codes(self, dag):
        assert BashSensor(task_id="ok", bash_command="exit 0").poke({}) is True
        assert BashSensor(task_id="again", bash_command="exit 1").poke({}) is False
        assert BashSensor(task_id="retry", bash_command="exit 2", retry_exit_code=2).poke({}) is False
        with pytest.raises(AirflowFailException, match="Command exited with return code 1"):
            BashSensor(task_id="fail", bash_command="exit 1", retry_exit_code=2).poke({})

    def test_file_sensor_joins_the_connection_path(self, dag, tmp_path, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_MY_FS", f'{{"conn_type": "fs", "extra": {{"path": "{tmp_path}"}}}}')
        sensor = FileSensor(task_id="s", filepath="in/*.csv", fs_conn_id="my_fs")
        assert sensor.poke({}) is False
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "a.csv").write_text("x")
        assert sensor.poke({}) is True
        monkeypatch.setenv("AIRFLOW_CONN_FS_DEFAULT", '{"conn_type": "fs", "extra": {"path": "/"}}')
        empty_dir = FileSensor(task_id="t", filepath=str(tmp_path / "empty"))  # a directory needs files
        (tmp_path / "empty").mkdir()
        assert empty_dir.poke({}) is False

    def test_time_sensor_compares_the_time_of_day(self, dag):
        assert TimeSensor(task_id="past", target_time=time(0, 0)).poke({}) in (True, False)
        assert TimeSensor(task_id="never", target_time=time(23, 59, 59, 999999)).poke({}) is False

    def test_day_of_week_sensor_on_the_logical_date(self, dag):
        monday = pendulum.datetime(2024, 1, 1, tz="UTC")
        sensor = DayOfWeekSensor(task_id="s", week_day="Monday", use_task_logical_date=True)
        assert sensor.poke({"logical_date": monday}) is True
        assert sensor.poke({"logical_date": monday.add(days=1)}) is False


class TestDeferral:
    def test_defer_raises_task_deferred_and_checks_the_timeout(self, dag):
        sensor = DateTimeSensorAsync(task_id="s", target_time="2100-01-01T00:00:00+00:00")
        with pytest.raises(TaskDeferred) as info:
            sensor.execute({})
        assert info.value.method_name == "execute_complete"
        assert info.value.trigger.serialize() == (
            "slipstream.sdk.triggers.temporal.DateTimeTrigger",
            {"moment": pendulum.datetime(2100, 1, 1, tz="UTC"), "end_from_trigger": False},
        )
        with pytest.raises(ValueError, match="Timeout value must be a timedelta"):
            sensor.defer(trigger=info.value.trigger, method_name="x", timeout=5)

    def test_time_delta_sensor_async_returns_at_once_when_the_moment_is_past(self, dag):
        sensor = TimeDeltaSensorAsync(task_id="s", delta=timedelta(seconds=1))
        assert sensor.execute({"data_interval_end": pendulum.datetime(2000, 1, 1, tz="UTC")}) is None

    def test_date_time_trigger_wants_an_aware_moment_and_fires(self):
        with pytest.raises(ValueError, match="You cannot pass naive datetimes"):
            DateTimeTrigger(datetime(2024, 1, 1))

        async def first(trigger):
            async for event in trigger.run():
                return event

        soon = TimeDeltaTrigger(timedelta(seconds=0.05))
        event = asyncio.run(first(soon))
        assert isinstance(event, TriggerEvent) and event.payload == soon.moment
        ended = asyncio.run(first(DateTimeTrigger(START, end_from_trigger=True)))
        assert isinstance(ended, TaskSuccessEvent)

    def test_resuming_calls_the_named_method_with_the_event(self, dag):
        sensor = DateTimeSensorAsync(task_id="s", target_time="2100-01-01T00:00:00+00:00")
        sensor.execute_complete = lambda context, event=None, extra=None: (event, extra)
        assert execute_or_resume(sensor, {}, "execute_complete", {"event": 5, "extra": "x"}) == (5, "x")

    def test_a_trigger_timeout_fails_and_a_soft_fail_sensor_skips(self, dag):
        timeout = {"error": "Trigger/execution timeout"}
        operator = TriggerDagRunOperator(task_id="t", trigger_dag_id="x")
        with pytest.raises(TaskDeferralError, match="Trigger/execution timeout"):
            execute_or_resume(operator, {}, FAIL_METHOD, timeout)
        soft = DateTimeSensorAsync(task_id="s", target_time="2100-01-01T00:00:00+00:00", soft_fail=True)
        with pytest.raises(AirflowSkipException):
            execute_or_resume(soft, {}, FAIL_METHOD, timeout)

    def test_reschedule_mode_raises_with_the_next_poke_date(self, dag, monkeypatch):
        import slipstream.sdk.sensors.base as base

        monkeypatch.setattr(base, "_first_reschedule", lambda context, retries: (None, 0))
        sensor = Counting(task_id="s", done_at=2, mode="reschedule", poke_interval=30)
        before = datetime.now(UTC)
        with pytest.raises(AirflowRescheduleException) as info:
            sensor.execute({"ti": SimpleNamespace()})
        assert before + timedelta(seconds=29) < info.value.reschedule_date < before + timedelta(seconds=40)


def test_airflow_module_paths_resolve_to_these_classes():
    airflow_namespace.install()
    try:
        from airflow.decorators import task
        from airflow.operators.trigger_dagrun import TriggerDagRunOperator as Compat
        from airflow.sensors.base import BaseSensorOperator as CompatBase
        from airflow.sensors.date_time import DateTimeSensorAsync as CompatAsync
        from airflow.triggers.temporal import TimeDeltaTrigger as CompatTrigger

        assert (Compat, CompatBase, CompatAsync, CompatTrigger) == (
            TriggerDagRunOperator,
            BaseSensorOperator,
            DateTimeSensorAsync,
            TimeDeltaTrigger,
        )
        assert callable(task.sensor)
    finally:
        sys.meta_path.remove(airflow_namespace._FINDER)
        for name in [n for n in sys.modules if n == "airflow" or n.startswith("airflow.")]:
            del sys.modules[name]


def test_task_sensor_decorator_makes_a_sensor(dag):
    from slipstream.sdk.decorators import task

    @task.sensor(poke_interval=0, timeout=5, exponential_backoff=True)
    def ready() -> PokeReturnValue:
        return PokeReturnValue(is_done=True, xcom_value="v")

    ready()
    sensor = dag.get_task("ready")
    assert isinstance(sensor, PythonSensor) and sensor.exponential_backoff
    assert sensor.custom_operator_name == "@task.sensor"
    assert sensor.execute({}) == "v"

"""Sensors that wait for a time: TimeSensor, TimeDeltaSensor, DateTimeSensor, DayOfWeekSensor, and the
*Async variants, which defer to a DateTimeTrigger instead of poking (no slot held while waiting)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum

from slipstream.sdk.sensors.base import BaseSensorOperator
from slipstream.sdk.triggers.base import StartTriggerArgs
from slipstream.sdk.triggers.temporal import DateTimeTrigger


def _dag_timezone(dag: Any) -> Any:
    tz = getattr(getattr(dag, "start_date", None), "tzinfo", None)
    return tz or pendulum.timezone("UTC")


def _utcnow() -> pendulum.DateTime:
    return pendulum.now("UTC")


class TimeSensor(BaseSensorOperator):
    """Done once the time of day in the DAG's time zone is past `target_time` (the date is ignored)."""

    def __init__(self, *, target_time: dt.time, **kwargs: Any):
        super().__init__(**kwargs)
        self.target_time = target_time

    def poke(self, context: dict[str, Any]) -> bool:
        print(f"Checking if the time ({self.target_time}) has come", flush=True)
        return _utcnow().in_timezone(_dag_timezone(self.dag)).time() > self.target_time


def _start_at_moment_args() -> StartTriggerArgs:
    # Each class gets its own (Airflow's is one shared object per class, changed by every __init__).
    return StartTriggerArgs(
        trigger_cls="airflow.triggers.temporal.DateTimeTrigger",
        trigger_kwargs={"moment": "", "end_from_trigger": False},
        next_method="execute_complete",
        next_kwargs=None,
        timeout=None,
    )


class TimeSensorAsync(BaseSensorOperator):
    """Defers until `target_time` today, today being the day the DAG file was parsed (as in Airflow).
    With start_from_trigger=True the scheduler defers it to that moment without a first worker try."""

    start_trigger_args = _start_at_moment_args()
    start_from_trigger = False

    def __init__(
        self,
        *,
        target_time: dt.time,
        start_from_trigger: bool = False,
        end_from_trigger: bool = False,
        trigger_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.target_time = target_time
        self.end_from_trigger = end_from_trigger
        tz = _dag_timezone(self.dag)
        today = pendulum.now(tz).date()
        aware = pendulum.datetime(
            today.year,
            today.month,
            today.day,
            target_time.hour,
            target_time.minute,
            target_time.second,
            target_time.microsecond,
            tz=tz,
        )
        self.target_datetime = aware.in_timezone("UTC")
        self.start_from_trigger = start_from_trigger
        if self.start_from_trigger:
            self.start_trigger_args.trigger_kwargs = dict(
                moment=self.target_datetime, end_from_trigger=self.end_from_trigger
            )

    def execute(self, context: dict[str, Any]) -> None:
        self.defer(
            trigger=DateTimeTrigger(moment=self.target_datetime, end_from_trigger=self.end_from_trigger),
            method_name="execute_complete",
        )

    def execute_complete(self, context: dict[str, Any], event: Any = None) -> None:
        return None


class TimeDeltaSensor(BaseSensorOperator):
    """Done once `delta` has passed since the run's data interval ended."""

    def __init__(self, *, delta: dt.timedelta, **kwargs: Any):
        super().__init__(**kwargs)
        self.delta = delta

    def poke(self, context: dict[str, Any]) -> bool:
        target = context["data_interval_end"] + self.delta
        print(f"Checking if the time ({target}) has come", flush=True)
        return _utcnow() > target


class TimeDeltaSensorAsync(TimeDeltaSensor):
    def __init__(self, *, end_from_trigger: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.end_from_trigger = end_from_trigger

    def execute(self, context: dict[str, Any]) -> None:
        target = context["data_interval_end"] + self.delta
        if _utcnow() > target:
            return None
        self.defer(
            trigger=DateTimeTrigger(moment=target, end_from_trigger=self.end_from_trigger),
            method_name="execute_complete",
        )

    def execute_complete(self, context: dict[str, Any], event: Any = None) -> None:
        return None


class DateTimeSensor(BaseSensorOperator):
    """Done once UTC now is past `target_time` (a datetime, or a templated string)."""

    template_fields = ("target_time",)

    def __init__(self, *, target_time: str | dt.datetime, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(target_time, dt.datetime):
            self.target_time = target_time.isoformat()
        elif isinstance(target_time, str):
            self.target_time = target_time
        else:
            raise TypeError(f"Expected str or datetime.datetime type for target_time. Got {type(target_time)}")

    def _moment(self) -> pendulum.DateTime:
        moment = pendulum.parse(self.target_time)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=pendulum.timezone("UTC"))

    def poke(self, context: dict[str, Any]) -> bool:
        print(f"Checking if the time ({self.target_time}) has come", flush=True)
        return _utcnow() > self._moment()


class DateTimeSensorAsync(DateTimeSensor):
    """With start_from_trigger=True the scheduler defers it without a first worker try; the moment is
    then parsed from target_time as written, at parse time: a templated target_time cannot be used."""

    start_trigger_args = _start_at_moment_args()
    start_from_trigger = False

    def __init__(
        self,
        *,
        start_from_trigger: bool = False,
        end_from_trigger: bool = False,
        trigger_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.end_from_trigger = end_from_trigger
        self.start_from_trigger = start_from_trigger
        if self.start_from_trigger:
            self.start_trigger_args.trigger_kwargs = dict(moment=self._moment(), end_from_trigger=end_from_trigger)

    def execute(self, context: dict[str, Any]) -> None:
        self.defer(
            trigger=DateTimeTrigger(moment=self._moment(), end_from_trigger=self.end_from_trigger),
            method_name="execute_complete",
        )

    def execute_complete(self, context: dict[str, Any], event: Any = None) -> None:
        return None


class DayOfWeekSensor(BaseSensorOperator):
    """Done on the given week day(s): of the logical date, or of today in UTC."""

    def __init__(
        self,
        *,
        week_day: Any,
        use_task_logical_date: bool = False,
        use_task_execution_day: bool = False,
        **kwargs: Any,
    ):
        from slipstream.sdk.weekday import WeekDay

        super().__init__(**kwargs)
        self.week_day = week_day
        self.use_task_logical_date = use_task_logical_date or use_task_execution_day
        self._week_day_num = WeekDay.validate_week_day(week_day)

    def poke(self, context: dict[str, Any]) -> bool:
        print(f"Poking until weekday is in {self.week_day}, Today is {_utcnow().strftime('%A')}", flush=True)
        if self.use_task_logical_date:
            return context["logical_date"].isoweekday() in self._week_day_num
        return _utcnow().isoweekday() in self._week_day_num

"""Timetables as DAG files name them (`airflow.timetables.*`, task-model-semantics §15).

The built-in ones stand for a serialized schedule (slipstream/timetables.py computes their runs, in
the scheduler and here alike). A custom `Timetable` subclass must be registered by a plugin
(slipstream/plugins.py); the scheduler then imports it from the plugins folder and calls it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from dateutil.relativedelta import relativedelta

from slipstream.sdk.exceptions import AirflowTimetableInvalid


class DataInterval(NamedTuple):
    start: dt.datetime
    end: dt.datetime

    @classmethod
    def exact(cls, at: dt.datetime) -> DataInterval:
        return cls(at, at)


class TimeRestriction(NamedTuple):
    """earliest: the DAG's earliest start date; latest: its end date; catchup: the DAG's catchup."""

    earliest: dt.datetime | None
    latest: dt.datetime | None
    catchup: bool


class DagRunInfo(NamedTuple):
    run_after: dt.datetime
    data_interval: DataInterval

    @classmethod
    def exact(cls, at: dt.datetime) -> DagRunInfo:
        return cls(run_after=at, data_interval=DataInterval.exact(at))

    @classmethod
    def interval(cls, start: dt.datetime, end: dt.datetime) -> DagRunInfo:
        return cls(run_after=end, data_interval=DataInterval(start, end))

    @property
    def logical_date(self) -> dt.datetime:
        return self.data_interval.start


class Timetable:
    """Base of every timetable; subclass it and implement `infer_manual_data_interval` and
    `next_dagrun_info` for a custom schedule."""

    description: str = ""
    periodic: bool = True
    can_be_scheduled: bool = True
    run_ordering: tuple[str, ...] = ("data_interval_end", "execution_date")
    active_runs_limit: int | None = None

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        return cls()

    def serialize(self) -> dict[str, Any]:
        return {}

    def validate(self) -> None:
        """Raise AirflowTimetableInvalid if the timetable cannot work."""

    @property
    def summary(self) -> str:
        return type(self).__name__

    def infer_manual_data_interval(self, *, run_after: dt.datetime) -> DataInterval:
        raise NotImplementedError

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        raise NotImplementedError

    def generate_run_id(self, *, run_type: Any, logical_date: dt.datetime, data_interval: Any, **extra: Any) -> str:
        run_type = getattr(run_type, "value", run_type)
        return f"{run_type}__{logical_date.isoformat()}"


def _zone_name(timezone: Any) -> str:
    if timezone is None:
        return "UTC"
    if isinstance(timezone, str):
        return timezone
    name = getattr(timezone, "name", None) or getattr(timezone, "key", None)
    if isinstance(name, str) and name:
        return name
    offset = timezone.utcoffset(None)
    if offset is None or offset == dt.timedelta(0):
        return "UTC"
    sign = "-" if offset < dt.timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def zone_of(value: dt.datetime | None) -> str:
    """The zone a DAG's schedule runs in: its start_date's, else UTC (the default timezone)."""
    if value is None or value.tzinfo is None:
        return "UTC"
    return _zone_name(value.tzinfo)


def encode_relativedelta(delta: relativedelta) -> dict[str, Any]:
    fields = ("years", "months", "days", "hours", "minutes", "seconds", "microseconds")
    absolute = ("year", "month", "day", "hour", "minute", "second", "microsecond")
    encoded: dict[str, Any] = {name: getattr(delta, name) for name in fields if getattr(delta, name)}
    encoded.update({name: getattr(delta, name) for name in absolute if getattr(delta, name) is not None})
    if delta.weekday is not None:
        encoded["weekday"] = delta.weekday.weekday
    return encoded


def _delta_schedule(delta: dt.timedelta | relativedelta) -> dict[str, Any]:
    if isinstance(delta, relativedelta):
        if dt.datetime(2000, 1, 1) + delta <= dt.datetime(2000, 1, 1):
            raise AirflowTimetableInvalid(f"schedule interval must be positive, not {delta!r}")
        return {"type": "delta", "relativedelta": encode_relativedelta(delta), "expression": repr(delta)}
    if delta.total_seconds() <= 0:
        raise AirflowTimetableInvalid(f"schedule interval must be positive, not {delta!r}")
    return {"type": "delta", "seconds": delta.total_seconds(), "expression": str(delta)}


def _checked_cron(cron: str) -> str:
    from croniter import croniter

    from slipstream.sdk.schedule import CRON_PRESETS

    expression = CRON_PRESETS.get(cron, cron)
    if not isinstance(expression, str) or not croniter.is_valid(expression):
        raise AirflowTimetableInvalid(f"Invalid cron expression: {cron!r}")
    return expression


class _BuiltinTimetable(Timetable):
    """A timetable that is a serialized schedule; its runs come from slipstream/timetables.py."""

    def schedule(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def summary(self) -> str:
        return str(self.schedule().get("expression"))

    def infer_manual_data_interval(self, *, run_after: dt.datetime) -> DataInterval:
        from slipstream.timetables import infer_manual_data_interval

        return DataInterval(*infer_manual_data_interval(self.schedule(), run_after))

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        from slipstream.timetables import next_dagrun_info

        info = next_dagrun_info(
            self.schedule(),
            earliest=restriction.earliest,
            latest=restriction.latest,
            catchup=restriction.catchup,
            last_automated=tuple(last_automated_data_interval) if last_automated_data_interval else None,
            now=dt.datetime.now(dt.UTC),
        )
        if info is None:
            return None
        return DagRunInfo(info.run_after, DataInterval(info.data_interval_start, info.data_interval_end))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.schedule() == self.schedule()

    def __hash__(self) -> int:
        return hash(repr(sorted(self.schedule().items(), key=str)))


class CronDataIntervalTimetable(_BuiltinTimetable):
    """Runs over [tick_i, tick_i+1), created at tick_i+1 (what a cron string schedules)."""

    def __init__(self, cron: str, timezone: Any):
        self._cron = _checked_cron(cron)
        self._expression = cron
        self._timezone = _zone_name(timezone)

    def schedule(self) -> dict[str, Any]:
        return {"type": "cron", "cron": self._cron, "expression": self._cron, "timezone": self._timezone}


class CronTriggerTimetable(_BuiltinTimetable):
    """A run at each tick over [tick - interval, tick]."""

    def __init__(self, cron: str, *, timezone: Any, interval: dt.timedelta | relativedelta = dt.timedelta()):
        self._cron = _checked_cron(cron)
        self._timezone = _zone_name(timezone)
        self._interval = interval

    def schedule(self) -> dict[str, Any]:
        interval: Any = (
            encode_relativedelta(self._interval)
            if isinstance(self._interval, relativedelta)
            else self._interval.total_seconds()
        )
        return {
            "type": "cron_trigger",
            "cron": self._cron,
            "expression": self._cron,
            "timezone": self._timezone,
            "interval": interval,
        }


class DeltaDataIntervalTimetable(_BuiltinTimetable):
    """Runs over [t, t + delta), created at t + delta; the delta is added in UTC."""

    def __init__(self, delta: dt.timedelta | relativedelta):
        self._delta = delta
        self._schedule = _delta_schedule(delta)

    def schedule(self) -> dict[str, Any]:
        return dict(self._schedule)


class NullTimetable(_BuiltinTimetable):
    can_be_scheduled = False
    periodic = False

    def schedule(self) -> dict[str, Any]:
        return {"type": "none", "expression": None}

    @property
    def summary(self) -> str:
        return "None"


class OnceTimetable(_BuiltinTimetable):
    periodic = False

    def schedule(self) -> dict[str, Any]:
        return {"type": "once", "expression": "@once"}


class DatasetTriggeredTimetable(_BuiltinTimetable):
    """Runs when the datasets' condition is met (slipstream/scheduler/dataset_runs.py)."""

    periodic = False

    def __init__(self, datasets: Any):
        from slipstream.sdk.datasets import as_condition

        self.dataset_condition = as_condition(datasets)

    def schedule(self) -> dict[str, Any]:
        from slipstream.sdk.datasets import condition_to_json

        return {"type": "dataset", "expression": self.summary, "condition": condition_to_json(self.dataset_condition)}

    @property
    def summary(self) -> str:
        """Airflow's: "Dataset", or "Unresolved DatasetAlias" for aliases alone (here, aliases are not
        resolved when the DAG file is parsed: the parse does not read the database)."""
        from slipstream.sdk.datasets import condition_to_json, condition_uris

        return "Dataset" if condition_uris(condition_to_json(self.dataset_condition)) else "Unresolved DatasetAlias"


class DatasetOrTimeSchedule(_BuiltinTimetable):
    """Timed runs from `timetable`, plus a run each time the datasets' condition is met."""

    def __init__(self, *, timetable: Timetable, datasets: Any):
        from slipstream.sdk.datasets import as_condition

        if isinstance(timetable, DatasetTriggeredTimetable | DatasetOrTimeSchedule):
            raise AirflowTimetableInvalid("cannot nest dataset timetables")
        self.timetable = timetable
        self.dataset_condition = as_condition(datasets)

    def schedule(self) -> dict[str, Any]:
        from slipstream.sdk.datasets import condition_to_json
        from slipstream.sdk.schedule import normalize_schedule

        timed = normalize_schedule(self.timetable)
        return {
            "type": "dataset_or_time",
            "expression": "Dataset or " + str(timed.get("expression")),
            "timetable": timed,
            "condition": condition_to_json(self.dataset_condition),
        }


def custom_schedule(timetable: Timetable) -> dict[str, Any]:
    """A user's Timetable subclass: registered by a plugin, or an import error naming it."""
    from slipstream.plugins import registered_timetable_path

    path = registered_timetable_path(type(timetable))
    timetable.validate()
    return {
        "type": "custom",
        "class": path,
        "data": timetable.serialize(),
        "expression": timetable.summary,
        "description": str(getattr(timetable, "description", "") or ""),
        "periodic": bool(getattr(timetable, "periodic", True)),
    }

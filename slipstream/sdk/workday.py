"""The workday timetable Airflow's example DAG `example_workday_timetable` imports from
`airflow.example_dags.plugins.workday`: one run per working day (Monday to Friday), over that day
[00:00, 24:00) UTC, created once the day is over. Holidays are not considered (Airflow's example only
skips US federal holidays when pandas is installed). Registered like any plugin timetable."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pendulum

from slipstream.sdk.plugins import AirflowPlugin
from slipstream.sdk.timetables import DagRunInfo, DataInterval, TimeRestriction, Timetable

_WEEKEND = (5, 6)


def _midnight(day: Any) -> pendulum.DateTime:
    return pendulum.datetime(day.year, day.month, day.day, tz="UTC")


def _workday(start: pendulum.DateTime, step: int) -> pendulum.DateTime:
    """`start` if it is a working day, else the nearest one in the direction of `step` (±1)."""
    while start.weekday() in _WEEKEND:
        start = start.add(days=step)
    return start


class AfterWorkdayTimetable(Timetable):
    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        start = _workday(_midnight(run_after - timedelta(days=1)), -1)
        return DataInterval(start, start.add(days=1))

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        if last_automated_data_interval is not None:
            start = _midnight(last_automated_data_interval.start + timedelta(days=1))
        elif restriction.earliest is None:
            return None
        elif not restriction.catchup:
            start = max(_midnight(restriction.earliest), _midnight(pendulum.now("UTC")))
        else:
            earliest = restriction.earliest.astimezone(pendulum.UTC)
            start = _midnight(earliest) if earliest.time() == time.min else _midnight(earliest + timedelta(days=1))
        start = _workday(start, 1)
        if restriction.latest is not None and start > restriction.latest:
            return None
        return DagRunInfo.interval(start, start.add(days=1))


class WorkdayTimetablePlugin(AirflowPlugin):
    name = "workday_timetable_plugin"
    timetables = [AfterWorkdayTimetable]

"""Schedules as a DAG file writes them (cron, presets, timedelta, None, @once) in one JSON-safe form."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from croniter import croniter


class _NotSet:
    def __repr__(self) -> str:
        return "NOTSET"


NOTSET: Any = _NotSet()

CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


def normalize_schedule(schedule: Any) -> dict[str, Any]:
    """Return the serialized schedule (forms listed in slipstream/timetables.py); raise ValueError or
    TypeError for what is not a schedule.

    Not given means one day, as in Airflow 2.x.
    """
    from dateutil.relativedelta import relativedelta

    from slipstream.sdk import timetables
    from slipstream.sdk.datasets import BaseDataset

    if schedule is NOTSET:
        return {"type": "delta", "seconds": 86400.0, "expression": "1 day, 0:00:00"}
    if schedule is None:
        return {"type": "none", "expression": None}
    if isinstance(schedule, timedelta | relativedelta):
        try:
            return timetables.DeltaDataIntervalTimetable(schedule).schedule()
        except timetables.AirflowTimetableInvalid as exc:
            raise ValueError(str(exc)) from None
    if isinstance(schedule, str):
        text = schedule.strip()
        if text == "@once":
            return {"type": "once", "expression": "@once"}
        if text in CRON_PRESETS:
            return {"type": "cron", "cron": CRON_PRESETS[text], "expression": text}
        if croniter.is_valid(text):
            return {"type": "cron", "cron": text, "expression": text}
        raise ValueError(f"Invalid schedule: {schedule!r} is not a cron expression or preset")
    if isinstance(schedule, timetables._BuiltinTimetable):
        return schedule.schedule()
    if isinstance(schedule, timetables.Timetable):
        return timetables.custom_schedule(schedule)
    if isinstance(schedule, BaseDataset) or (
        isinstance(schedule, list | tuple | set | frozenset) and not isinstance(schedule, str)
    ):
        return timetables.DatasetTriggeredTimetable(schedule).schedule()
    raise TypeError(
        f"Unsupported schedule {schedule!r}: use a cron string, a preset, a timedelta, a timetable, datasets or None"
    )


def schedule_in_zone(schedule: dict[str, Any], start_date: Any) -> dict[str, Any]:
    """A cron without a zone of its own runs in the DAG's: its start_date's zone (UTC if none).
    UTC crons stay as they were serialized before zones existed, so their DAGs keep their hash."""
    from slipstream.sdk.timetables import zone_of

    kind = schedule.get("type")
    if kind == "dataset_or_time":
        return {**schedule, "timetable": schedule_in_zone(schedule["timetable"], start_date)}
    if kind != "cron" or "timezone" in schedule:
        return schedule
    name = zone_of(start_date)
    return schedule if name == "UTC" else {**schedule, "timezone": name}

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
    """Return {"type": "none"|"once"|"cron"|"delta", ...}; raise ValueError for what is not a schedule.

    Not given means one day, as in Airflow 2.x.
    """
    if schedule is NOTSET:
        return {"type": "delta", "seconds": 86400.0, "expression": "1 day, 0:00:00"}
    if schedule is None:
        return {"type": "none", "expression": None}
    if isinstance(schedule, timedelta):
        if schedule.total_seconds() <= 0:
            raise ValueError("a timedelta schedule must be positive")
        return {"type": "delta", "seconds": schedule.total_seconds(), "expression": str(schedule)}
    if isinstance(schedule, str):
        text = schedule.strip()
        if text == "@once":
            return {"type": "once", "expression": "@once"}
        if text in CRON_PRESETS:
            return {"type": "cron", "cron": CRON_PRESETS[text], "expression": text}
        if croniter.is_valid(text):
            return {"type": "cron", "cron": text, "expression": text}
        raise ValueError(f"Invalid schedule: {schedule!r} is not a cron expression or preset")
    raise TypeError(f"Unsupported schedule {schedule!r}: use a cron string, a preset, a timedelta or None")

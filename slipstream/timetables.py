"""Data intervals from a serialized schedule ({"type": "cron"|"delta"|"once"|"none", ...}), as Airflow computes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter


def _cron_prev(expr: str, moment: datetime, *, inclusive: bool) -> datetime:
    """The latest tick at or before (inclusive) / strictly before `moment`."""
    moment = moment.astimezone(UTC)
    if inclusive and croniter.match(expr, moment) and moment.second == 0 and moment.microsecond == 0:
        return moment
    return croniter(expr, moment).get_prev(datetime).astimezone(UTC)


def _cron_next(expr: str, moment: datetime, *, inclusive: bool) -> datetime:
    moment = moment.astimezone(UTC)
    if inclusive and croniter.match(expr, moment) and moment.second == 0 and moment.microsecond == 0:
        return moment
    return croniter(expr, moment).get_next(datetime).astimezone(UTC)


def infer_manual_data_interval(schedule: dict[str, Any], run_after: datetime) -> tuple[datetime, datetime]:
    """The data interval of a manually triggered run at `run_after`.

    cron: the last complete interval ending at or before the trigger time; delta: [t - delta, t];
    none and @once: [t, t].
    """
    kind = schedule.get("type")
    if kind == "cron":
        end = _cron_prev(schedule["cron"], run_after, inclusive=True)
        start = _cron_prev(schedule["cron"], end, inclusive=False)
        return start, end
    if kind == "delta":
        return run_after - timedelta(seconds=schedule["seconds"]), run_after
    return run_after, run_after

"""Date helpers DAG files import from `airflow.utils.dates` (days_ago and friends), with Airflow's warnings."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta
from typing import Any

from croniter import croniter
from dateutil.relativedelta import relativedelta

from slipstream.sdk import timezone
from slipstream.sdk.exceptions import RemovedInAirflow3Warning
from slipstream.sdk.schedule import CRON_PRESETS

cron_presets: dict[str, str] = {k: v for k, v in CRON_PRESETS.items() if k != "@annually"}


def days_ago(n: int, hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0) -> datetime:
    """UTC today at hour:minute:second, n days back."""
    warnings.warn(
        "Function `days_ago` is deprecated and will be removed in Airflow 3.0. "
        "You can achieve equivalent behavior with `pendulum.today('UTC').add(days=-N, ...)`",
        RemovedInAirflow3Warning,
        stacklevel=2,
    )
    today = timezone.utcnow().replace(hour=hour, minute=minute, second=second, microsecond=microsecond)
    return today - timedelta(days=n)


def date_range(
    start_date: datetime,
    end_date: datetime | None = None,
    num: int | None = None,
    delta: str | timedelta | relativedelta | None = None,
) -> list[datetime]:
    """Dates from start_date, `delta` apart (a timedelta, relativedelta or cron), through end_date
    (default: now) or `num` of them (negative: going back), sorted."""
    warnings.warn(
        "`airflow.utils.dates.date_range()` is deprecated. Please use `airflow.timetables`.",
        category=RemovedInAirflow3Warning,
        stacklevel=2,
    )
    if not delta:
        return []
    if end_date and start_date > end_date:
        raise ValueError("Wait. start_date needs to be before end_date")
    if end_date and num:
        raise ValueError("Wait. Either specify end_date OR num")
    if not isinstance(delta, (str, timedelta, relativedelta)):
        raise TypeError("Wait. delta must be either datetime.timedelta or cron expression as str")
    zone = start_date.tzinfo or timezone.utc
    backwards = bool(num) and num < 0

    def steps():
        if isinstance(delta, str):
            # Cron in the start date's wall time, as Airflow does.
            naive = timezone.make_naive(start_date, zone) if timezone.is_localized(start_date) else start_date
            cron = croniter(cron_presets.get(delta, delta), naive)
            yield naive
            while True:
                yield cron.get_prev(datetime) if backwards else cron.get_next(datetime)
        else:
            current, step = start_date, abs(delta)
            while True:
                yield current
                current = current - step if backwards else current + step

    if not end_date and not num:
        end_date = timezone.utcnow()
    if end_date is not None and timezone.is_naive(end_date):
        end_date = timezone.make_aware(end_date, zone)
    dates: list[datetime] = []
    for value in steps():
        aware = timezone.make_aware(value, zone) if timezone.is_naive(value) else value
        if end_date is not None and aware > end_date:
            break
        dates.append(aware)
        if num and len(dates) >= abs(num):
            break
    return sorted(dates)


def parse_execution_date(execution_date_str: str) -> Any:
    return timezone.parse(execution_date_str)


def datetime_to_nano(value: datetime) -> int:
    return int(value.timestamp() * 1_000_000_000)

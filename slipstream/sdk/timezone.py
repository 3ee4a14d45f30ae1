"""Aware datetimes for DAG files (`airflow.utils.timezone`); the default timezone here is UTC."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum

utc = pendulum.UTC
TIMEZONE = utc


def is_localized(value: dt.datetime) -> bool:
    return value.utcoffset() is not None


def is_naive(value: dt.datetime) -> bool:
    return value.utcoffset() is None


def utcnow() -> dt.datetime:
    return dt.datetime.now(tz=utc)


def utc_epoch() -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=utc)


def convert_to_utc(value: dt.datetime | None) -> pendulum.DateTime | None:
    """A naive value is taken to be in the default timezone (UTC)."""
    if value is None:
        return None
    if not is_localized(value):
        value = pendulum.instance(value, TIMEZONE)
    return pendulum.instance(value.astimezone(utc))


def make_aware(value: dt.datetime | None, timezone: Any = None) -> dt.datetime | None:
    if not value:
        return None
    if is_localized(value):
        raise ValueError(f"make_aware expects a naive datetime, got {value}")
    timezone = timezone or TIMEZONE
    value = value.replace(fold=1)  # an ambiguous wall time means its second occurrence
    convert = getattr(timezone, "convert", None)
    return convert(value) if convert is not None else value.replace(tzinfo=timezone)


def make_naive(value: dt.datetime, timezone: Any = None) -> dt.datetime:
    if is_naive(value):
        raise ValueError("make_naive() cannot be applied to a naive datetime")
    local = value.astimezone(timezone or TIMEZONE)
    return dt.datetime(local.year, local.month, local.day, local.hour, local.minute, local.second, local.microsecond)


def datetime(*args: Any, **kwargs: Any) -> dt.datetime:
    """datetime.datetime in the default timezone unless tzinfo is given."""
    kwargs.setdefault("tzinfo", TIMEZONE)
    return dt.datetime(*args, **kwargs)


def parse(string: str, timezone: Any = None, *, strict: bool = False) -> pendulum.DateTime:
    return pendulum.parse(string, tz=timezone or TIMEZONE, strict=strict)


def coerce_datetime(value: dt.datetime | None, tz: Any = None) -> pendulum.DateTime | None:
    if value is None:
        return None
    if isinstance(value, pendulum.DateTime):
        return value if value.tzinfo else value.replace(tzinfo=tz or TIMEZONE)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz or TIMEZONE)
    return pendulum.instance(value)

"""Dates as Airflow 2.x reads and writes them (reference §1.5)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pendulum

from slipstream.errors import BadRequest

# Longer inputs are never dates; pendulum and dateutil can take very long on huge digit strings.
_MAX_DATE_LENGTH = 64
# What clients send nearly always (Airflow's own example format): read by datetime.fromisoformat,
# several times faster than pendulum and the same instant; anything else goes through pendulum.
_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?(?:Z|[+-]\d\d:\d\d)")


def invalid_date_message(raw: object) -> str:
    return (
        f"Given execution date, {raw}, could not be identified as a date. "
        "Example date format: 2015-11-16T14:34:15+00:00"
    )


def parse_execution_date(raw: object) -> datetime:
    """Parse leniently like pendulum.parse(strict=False); naive means UTC; the client's offset is kept.

    Anything unparseable, non-string, overlong or overflowing when converted to UTC is a 400.
    """
    if not isinstance(raw, str) or not raw.strip() or len(raw) > _MAX_DATE_LENGTH:
        raise BadRequest(invalid_date_message(raw))
    try:
        if _CANONICAL.fullmatch(raw):
            parsed = datetime.fromisoformat(raw)
        else:
            parsed = pendulum.parse(raw, tz="UTC", strict=False)
    except Exception as exc:  # pendulum and dateutil raise many kinds of errors
        raise BadRequest(invalid_date_message(raw)) from exc
    if not isinstance(parsed, datetime):
        # pendulum gives Date/Time/Duration objects for some inputs ("P1D", "10:00"): not instants.
        raise BadRequest(invalid_date_message(raw))
    if type(parsed) is datetime and parsed.tzinfo is UTC:  # fromisoformat's: as built below, never overflows
        return parsed
    try:
        # An offset of a day or more ("+99:00") parses but is not a valid UTC offset.
        offset = parsed.utcoffset() or timedelta(0)
        value = datetime(
            parsed.year,
            parsed.month,
            parsed.day,
            parsed.hour,
            parsed.minute,
            parsed.second,
            parsed.microsecond,
            tzinfo=UTC if offset == timedelta(0) else timezone(offset),
        )
        value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise BadRequest(invalid_date_message(raw)) from exc
    return value


def to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def isoformat(value: datetime | None) -> str:
    """Airflow's rendering: isoformat(), microseconds only when non-zero; '' for unset."""
    if value is None:
        return ""
    return value.isoformat()


def utcnow() -> datetime:
    return datetime.now(UTC)

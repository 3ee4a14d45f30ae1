"""Date-times in stable-API requests: RFC 3339 text read once and put in UTC, with a 400 (never a 500)
for text that is no date-time and for an instant outside the years 1 to 9999 in UTC, which no column
holds (0001-01-01T00:00:00+01:00 is in year 0 in UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

from slipstream.api.v1_problems import bad_request


def utc_datetime(value: str | None, *, name: str | None = None) -> datetime | None:
    """`value` (a date-time with an offset, as the contract checks it) in UTC; None stays None."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        where = f" - '{name}'" if name else ""
        raise bad_request(f"'{value}' is not a 'date-time'{where}") from None
    return in_utc(parsed, value)


def in_utc(parsed: datetime, value: str) -> datetime:
    """`parsed` (aware) in UTC, or a 400 naming `value` when that instant is outside what is stored."""
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise bad_request(f"'{value}' is outside the dates Slipstream stores (years 1 to 9999 in UTC)") from None

"""Reading UtcDateTime columns straight to the strings the API prints, for hot list endpoints.

`select(type_coerce(DagRun.execution_date, UTC_ISOFORMAT))` (or isoformat_reader() applied to the
raw column value) gives, per row, exactly
slipstream.dates.isoformat() of the datetime UtcDateTime would have read (None stays None). On
SQLite, which stores SQLAlchemy's fixed text form, the string is cut from the stored text, skipping
the parse into a datetime, the tzinfo swap and isoformat() (most of a 100-row list's cost).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, TypeDecorator

from slipstream.storage.models import UtcDateTime

# SQLAlchemy's SQLite DATETIME storage format, which every write through it uses; other text (written
# by hand, say) takes the general path.
_SQLITE_STORED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")
_NO_MICROSECONDS = "000000"


class UtcIsoformat(TypeDecorator[str]):
    """A UtcDateTime column read as its isoformat() string; for reading only."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def result_processor(self, dialect, coltype) -> Callable[[Any], str | None]:
        to_datetime = self.impl_instance.result_processor(dialect, coltype)
        to_utc = UtcDateTime().process_result_value

        def general(value: Any) -> str | None:
            if value is None:
                return None
            if to_datetime is not None:
                value = to_datetime(value)
            utc: datetime = to_utc(value, dialect)
            return utc.isoformat()

        if dialect.name != "sqlite":
            return general

        def from_stored_text(value: Any) -> str | None:
            if value is None:  # unset dates (start_date of queued runs) are common
                return None
            if value.__class__ is not str or not _SQLITE_STORED.fullmatch(value):
                return general(value)
            # "YYYY-MM-DD HH:MM:SS.ffffff", naive UTC -> "YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00"
            micro = value[20:]
            if micro == _NO_MICROSECONDS:
                return f"{value[:10]}T{value[11:19]}+00:00"
            return f"{value[:10]}T{value[11:19]}.{micro}+00:00"

        return from_stored_text


UTC_ISOFORMAT = UtcIsoformat()
_readers: dict[str, Callable[[Any], str | None]] = {}


def isoformat_reader(dialect) -> Callable[[Any], str | None]:
    """UTC_ISOFORMAT's conversion for values read straight from the DBAPI (slipstream.storage.prepared)."""
    reader = _readers.get(dialect.name)
    if reader is None:
        reader = _readers[dialect.name] = UTC_ISOFORMAT.dialect_impl(dialect).result_processor(dialect, None)
    return reader

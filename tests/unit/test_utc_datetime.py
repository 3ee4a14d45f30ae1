"""UtcDateTime's one-step SQLite bind processor stores exactly the text SQLAlchemy's own path stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import TypeDecorator

from slipstream.storage.models import UtcDateTime

_INSTANTS = [
    datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
    datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),  # no microseconds: still six digits
    datetime(1, 1, 1, 0, 0, tzinfo=UTC),  # years before 1000: zero-padded
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 5, 6, 7, 8, 9, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2024, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=-3))),  # crosses a day (and a year) back
    datetime(2024, 3, 31, 2, 30, tzinfo=ZoneInfo("Europe/Amsterdam")),
    datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Amsterdam")),
]


@pytest.mark.parametrize("value", [*_INSTANTS, None], ids=str)
def test_the_sqlite_text_is_what_process_bind_param_and_datetime_formatting_give(value):
    dialect = sqlite.dialect()
    column_type = UtcDateTime()
    ours = column_type.dialect_impl(dialect).bind_processor(dialect)
    sqlalchemys = TypeDecorator.bind_processor(column_type.dialect_impl(dialect), dialect)
    assert ours(value) == sqlalchemys(value)


def test_a_naive_datetime_is_refused_on_sqlite_too():
    dialect = sqlite.dialect()
    process = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
    with pytest.raises(ValueError, match="naive"):
        process(datetime(2024, 5, 6))


def test_remembered_texts_stay_right_across_repeats_and_a_full_memory():
    """The processor remembers recent UTC values: repeats, 200 distinct values (past its bound) and
    the same instants given in other zones all still bind to SQLAlchemy's own text."""
    dialect = sqlite.dialect()
    column_type = UtcDateTime()
    ours = column_type.dialect_impl(dialect).bind_processor(dialect)
    sqlalchemys = TypeDecorator.bind_processor(column_type.dialect_impl(dialect), dialect)
    start = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    values = [start + timedelta(seconds=i) for i in range(200)]
    for value in [*values, *values[::-1], *_INSTANTS, *_INSTANTS]:
        assert ours(value) == sqlalchemys(value)
    for value in values:
        assert ours(value.astimezone(ZoneInfo("Asia/Kolkata"))) == sqlalchemys(value)

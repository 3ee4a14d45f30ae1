"""Hot list endpoints read rows straight from the DBAPI (slipstream.storage.prepared) and render them
through a cache keyed by the stored values.

- PreparedShapes: one prepared statement per shape of a filtered list (which filters a request uses,
  how many values each has), built and compiled on first use. Building a select and finding it in
  SQLAlchemy's cache costs more per request than running it.
- RowReader: a raw row turned into what the ORM would have loaded (the columns' own result
  conversions: UTC datetimes, booleans, JSON), for the rows whose rendering is not cached yet.
- RenderedRows: rendered JSON fragments keyed by every stored value they are made of. Clients poll
  lists; most rows have not changed since the last poll, and rendering an item costs many times
  looking it up. A changed row has a new key, so an entry is never stale.
- JSON_TEXT: a JSON column read as its stored text (hashable, so it can be part of a key), parsed
  as the engine parses JSON columns.
- sqlite_fingerprint: on SQLite, a row's values as one text made by SQLite, the key of a page whose
  items are all rendered already (reading one text per row costs a fraction of reading the values).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Executable, Float, Text, TypeDecorator, cast, func, type_coerce
from sqlalchemy.engine import Dialect

from slipstream.storage.db import json_loads
from slipstream.storage.prepared import Prepared


class JsonText(TypeDecorator[Any]):
    """A JSON column selected as text (json_text()): the raw value is the stored text, hashable; the
    reader parses it as the engine's JSON columns are parsed. For reading only."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: Any, dialect) -> Any:
        return None if value is None else json_loads(value)


JSON_TEXT = JsonText()


def json_text(column):
    """The JSON `column` as its stored text (CAST: on PostgreSQL the driver would parse json itself)."""
    return type_coerce(cast(column, Text), JSON_TEXT).label(column.key)


def sqlite_fingerprint(columns: Sequence[Any]):
    """SQLite: the values of `columns` as one text, equal exactly when they are: json_array(...) quotes text,
    writes integers exactly and NULL as null. Not REAL columns: it writes them with 15 digits."""
    return func.json_array(*columns)


class PreparedShapes:
    """Prepared statements of one family, per shape: `build(shape)` makes the statement for a shape (a
    hashable description of the filters used). Bounded: cleared when full (shapes are few in practice)."""

    def __init__(self, build: Callable[[Any], Executable], max_shapes: int = 512) -> None:
        self._build = build
        self._max_shapes = max_shapes
        self._statements: dict[Hashable, Prepared] = {}
        self._lock = threading.Lock()

    def __call__(self, shape: Hashable) -> Prepared:
        statement = self._statements.get(shape)
        if statement is None:
            statement = Prepared(self._build(shape))
            with self._lock:
                if len(self._statements) >= self._max_shapes:
                    self._statements.clear()
                self._statements[shape] = statement
        return statement


def fetch_all(statement: Prepared, session, values: dict[str, Any]) -> list[tuple]:
    cursor = statement.execute(session, values)
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


def _processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    if isinstance(type_, Float) and not type_.asdecimal:
        # SQLAlchemy picks a float column's conversion by the driver's type code; both drivers give floats
        # for float columns already (the conversion it picks is none), and psycopg's refuses no code.
        return None
    return type_.dialect_impl(dialect).result_processor(dialect, None)


class RowReader:
    """Raw rows of `columns` (a select's selected_columns) as the ORM would have loaded them: a namespace
    per row with an attribute per column label, converted by the column's type for the dialect."""

    def __init__(self, columns: Sequence[Any]) -> None:
        self.columns = tuple(columns)
        self._names = tuple(column.key for column in self.columns)
        self._processors: dict[str, tuple[Callable[[Any], Any] | None, ...]] = {}

    def _for(self, dialect: Dialect) -> tuple[Callable[[Any], Any] | None, ...]:
        processors = self._processors.get(dialect.name)
        if processors is None:
            processors = tuple(_processor(column.type, dialect) for column in self.columns)
            self._processors[dialect.name] = processors
        return processors

    def read(self, dialect: Dialect, row: Sequence[Any], start: int = 0) -> SimpleNamespace:
        """The columns of `row` from position `start` on, as attributes."""
        values = {}
        for offset, (name, processor) in enumerate(zip(self._names, self._for(dialect), strict=True)):
            value = row[start + offset]
            values[name] = value if processor is None or value is None else processor(value)
        return SimpleNamespace(**values)

    def __len__(self) -> int:
        return len(self.columns)


class RenderedRows:
    """Rendered fragments by key (the stored values they are made of, and whatever else went into them).

    A changed row has a new key, so an entry is never stale; what is bounded is memory. Two generations:
    a hit in the older moves the entry to the newer, and when the newer is full the older is dropped.
    What clients still poll survives; superseded renderings of a row (a run queued, then running, then
    successful) and rows no longer listed (cleaned or deleted) are gone within two generations. Clearing
    one dict when full kept every superseded rendering until the cap, so a long-lived server's memory
    grew for as long as that took (issue 15's soak)."""

    def __init__(self, max_entries: int) -> None:
        self._generation_size = max(1, max_entries // 2)
        self._newer: dict[Hashable, bytes] = {}
        self._older: dict[Hashable, bytes] = {}

    def get(self, key: Hashable) -> bytes | None:
        fragment = self._newer.get(key)
        if fragment is None:
            fragment = self._older.get(key)
            if fragment is not None:
                self.put(key, fragment)
        return fragment

    def put(self, key: Hashable, fragment: bytes) -> bytes:
        if len(self._newer) >= self._generation_size:
            self._older = self._newer
            self._newer = {}
        self._newer[key] = fragment
        return fragment

    def __len__(self) -> int:
        return len(self._newer) + len(self._older)


def json_list(name: str, fragments: list[bytes], total: int) -> bytes:
    """`{"<name>":[...],"total_entries":N}` as orjson writes it with sorted keys (name sorts first)."""
    return b'{"%s":[%s],"total_entries":%d}' % (name.encode(), b",".join(fragments), total)

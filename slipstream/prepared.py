"""Core statements compiled once per dialect and run straight on a session's DBAPI cursor.

A trigger runs five statements; through SQLAlchemy's execution context each costs about 50 us of
Python beyond what the database itself spends, together as much as the rest of the request. For
those few statements on the hottest write path, SQLAlchemy still renders the SQL for the dialect,
converts each parameter with its column type (UTC datetimes, JSON, booleans) and supplies the
columns' Python-side defaults; only the execution context is skipped. Results come back as the
DBAPI gives them, so use this for ids, counts and strings, not for values that need a type's
result conversion (datetimes, JSON).

The statement runs in the session's transaction (on SQLite, after our BEGIN IMMEDIATE), after
pending ORM changes are flushed, exactly where execute_core would have run it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

_MISSING = object()


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    positional: bool
    names: tuple[str, ...]
    # Per parameter: its name, its type's conversion, and what it takes when the caller leaves it out
    # ("default": a column's default, "value": the statement's own literal, "required": nothing).
    parameters: tuple[tuple[str, Callable[[Any], Any] | None, str, Any], ...]


def _default_of(column) -> Any:
    default = column.default
    if default is None:
        return None
    if default.is_callable:
        return default.arg  # called per row: SQLAlchemy's wrapper of the column's callable
    if default.is_scalar:
        return default.arg
    raise ValueError(f"Column {column} has a default prepared statements cannot compute")


def _compile(statement: Executable, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    binds_by_name = {name: bind for bind, name in compiled.bind_names.items()}
    names = tuple(compiled.positiontup) if compiled.positional else tuple(binds_by_name)
    prefetch = {column.key: column for column in getattr(compiled, "insert_prefetch", ())}
    parameters = []
    for name in names:
        bind = binds_by_name[name]
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if name in prefetch:
            parameters.append((name, processor, "default", _default_of(prefetch[name])))
        elif bind.required:
            parameters.append((name, processor, "required", None))
        else:
            parameters.append((name, processor, "value", bind.effective_value))
    return _Compiled(str(compiled), compiled.positional, names, tuple(parameters))


class Prepared:
    """One Core statement, compiled on first use for each dialect it meets."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _compile(self.statement, dialect)
        return compiled

    @staticmethod
    def _parameters(
        compiled: _Compiled, values: Mapping[str, Any], converted: Mapping[str, Any] | None = None
    ) -> Sequence[Any] | dict[str, Any]:
        row = []
        for name, processor, kind, fallback in compiled.parameters:
            if converted is not None and name in converted:
                row.append(converted[name])
                continue
            value = values.get(name, _MISSING)
            if value is _MISSING:
                if kind == "required":
                    raise KeyError(f"No value for the statement's parameter {name!r}")
                value = fallback(None) if kind == "default" and callable(fallback) else fallback
            row.append(value if processor is None else processor(value))
        return row if compiled.positional else dict(zip(compiled.names, row, strict=True))

    def _cursor(self, session: Session):
        if session.autoflush:
            session.flush()
        connection = session.connection()
        return self._for(connection.dialect), connection.connection.cursor()

    def execute(self, session: Session, values: Mapping[str, Any]):
        """Run once; returns the DBAPI cursor (for fetchone / fetchall)."""
        compiled, cursor = self._cursor(session)
        cursor.execute(compiled.sql, self._parameters(compiled, values))
        return cursor

    def first(self, session: Session, values: Mapping[str, Any]) -> tuple | None:
        cursor = self.execute(session, values)
        try:
            return cursor.fetchone()
        finally:
            cursor.close()

    def scalar(self, session: Session, values: Mapping[str, Any]) -> Any:
        row = self.first(session, values)
        return None if row is None else row[0]

    def executemany(
        self, session: Session, rows: Iterable[Mapping[str, Any]], shared: Mapping[str, Any] | None = None
    ) -> None:
        """Run once per row; `shared` holds values every row has, converted once rather than per row."""
        compiled, cursor = self._cursor(session)
        converted = None
        if shared:
            by_name = {name: processor for name, processor, _, _ in compiled.parameters}
            converted = {
                name: value if by_name[name] is None else by_name[name](value) for name, value in shared.items()
            }
        try:
            cursor.executemany(compiled.sql, [self._parameters(compiled, row, converted) for row in rows])
        finally:
            cursor.close()

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

Building the parameters is planned once per set of names a caller gives: which of them to convert,
and the converted literals and defaults for the rest. A call then merges dicts and converts only
what varies, rather than walking every parameter (a trigger binds over a hundred values).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to build the parameters from one set of given names: the rest is filled once, up front."""

    constants: dict[str, Any]  # converted: statement literals and scalar column defaults
    shared: tuple[tuple[str, Callable[[Any], Any] | None], ...]  # given once per executemany call
    convert: tuple[tuple[str, Callable[[Any], Any]], ...]  # given per row: names whose type converts
    per_row: tuple[tuple[str, Callable[[Any], Any], Callable[[Any], Any] | None], ...]  # callable defaults
    order: Callable[[dict[str, Any]], Any]  # the dict of every parameter -> what the DBAPI takes

    def base(self, shared: Mapping[str, Any] | None) -> dict[str, Any]:
        """The constants with `shared` converted and added: what every row starts from."""
        if not self.shared:
            return self.constants
        converted = {name: shared[name] if p is None else p(shared[name]) for name, p in self.shared}
        return {**self.constants, **converted}


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    positional: bool
    names: tuple[str, ...]
    # Per parameter: its name, its type's conversion, and what it takes when the caller leaves it out
    # ("default": a column's default, "value": the statement's own literal, "required": nothing).
    parameters: tuple[tuple[str, Callable[[Any], Any] | None, str, Any], ...]
    plans: dict[tuple, _Plan] = field(default_factory=dict)

    def plan(self, given: tuple[str, ...], shared: tuple[str, ...] = ()) -> _Plan:
        """The plan for calls giving `given` per row and `shared` once for all rows."""
        key = (given, shared)
        plan = self.plans.get(key)
        if plan is None:
            plan = self.plans[key] = self._make_plan(frozenset(given), frozenset(shared))
        return plan

    def _make_plan(self, given: frozenset[str], shared: frozenset[str]) -> _Plan:
        constants: dict[str, Any] = {}
        from_shared, convert, per_row = [], [], []
        for name, processor, kind, fallback in self.parameters:
            if name in given:
                if processor is not None:
                    convert.append((name, processor))
            elif name in shared:
                from_shared.append((name, processor))
            elif kind == "required":
                raise KeyError(f"No value for the statement's parameter {name!r}")
            elif kind == "default" and callable(fallback):
                per_row.append((name, fallback, processor))
            else:
                constants[name] = fallback if processor is None else processor(fallback)
        if self.positional:
            order = _positional(self.names)
        else:
            names = self.names

            def order(row: dict[str, Any]) -> dict[str, Any]:
                return {name: row[name] for name in names}

        return _Plan(constants, tuple(from_shared), tuple(convert), tuple(per_row), order)


def _positional(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple]:
    """The parameters in the statement's order, as a tuple (itemgetter returns a bare value for one name)."""
    if not names:
        return lambda _row: ()
    getter = itemgetter(*names)
    return getter if len(names) > 1 else (lambda row: (getter(row),))


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


_CONNECTION = "slipstream.storage.prepared.connection"


@contextmanager
def _pool_renewed_on_disconnect(connection: Connection, cursor) -> Iterator[None]:
    """What SQLAlchemy does when a statement finds the server gone, for statements run past it: this
    connection is dropped and the pool renewed, so no other request gets a connection from before the
    loss (PostgreSQL's are pinged only after sitting idle: slipstream.storage.db). The error is raised as is."""
    try:
        yield
    except connection.dialect.loaded_dbapi.Error as exc:
        if connection.dialect.is_disconnect(exc, connection.connection.dbapi_connection, cursor):
            connection.invalidate(exc)
            connection.engine.dispose()
        raise


def _connection_of(session: Session):
    """session.connection(), remembered for the session's current transaction (whose connection is
    fixed): asking SQLAlchemy each time costs ~15 us of transaction bookkeeping per statement."""
    if not isinstance(session, Session):  # db.StatementReads: its connection() is a plain attribute
        return session.connection()
    transaction = session.get_transaction()
    remembered = session.info.get(_CONNECTION)
    if transaction is not None and remembered is not None and remembered[0] is transaction:
        return remembered[1]
    connection = session.connection()
    session.info[_CONNECTION] = (session.get_transaction(), connection)
    return connection


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
        plan: _Plan, values: Mapping[str, Any], base: dict[str, Any] | None = None
    ) -> Sequence[Any] | dict[str, Any]:
        row = {**(plan.constants if base is None else base), **values}
        for name, processor in plan.convert:
            row[name] = processor(row[name])
        for name, default, processor in plan.per_row:
            value = default(None)
            row[name] = value if processor is None else processor(value)
        return plan.order(row)

    def _cursor(self, session: Session):
        if session.autoflush:
            session.flush()
        connection = _connection_of(session)
        return self._for(connection.dialect), connection.connection.cursor(), connection

    def execute(self, session: Session, values: Mapping[str, Any]):
        """Run once; returns the DBAPI cursor (for fetchone / fetchall)."""
        compiled, cursor, connection = self._cursor(session)
        with _pool_renewed_on_disconnect(connection, cursor):
            cursor.execute(compiled.sql, self._parameters(compiled.plan(tuple(values)), values))
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
        compiled, cursor, connection = self._cursor(session)
        try:
            shared_names = tuple(shared) if shared else ()
            plans: dict[tuple[str, ...], tuple[_Plan, dict[str, Any]]] = {}
            parameters = []
            for row in rows:
                given = tuple(row)
                entry = plans.get(given)
                if entry is None:
                    plan = compiled.plan(given, shared_names)
                    entry = plans[given] = (plan, plan.base(shared))
                parameters.append(self._parameters(entry[0], row, entry[1]))
            with _pool_renewed_on_disconnect(connection, cursor):
                cursor.executemany(compiled.sql, parameters)
        finally:
            cursor.close()

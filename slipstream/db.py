"""Database engine and unit-of-work sessions. SQLite gets WAL and foreign keys; PostgreSQL uses psycopg 3."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

_engines: dict[str, Engine] = {}
_session_factories: dict[str, sessionmaker[Session]] = {}
_lock = threading.Lock()
# Set by session_scope(write=True): SQLite transactions that will write take the lock up front.
_write_intent: ContextVar[bool] = ContextVar("slipstream_write_intent", default=False)


def normalize_url(url: str) -> str:
    """Let people write postgresql:// and still get the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _on_sqlite_connect(dbapi_connection, _record) -> None:
    # WAL lets the scheduler write while API workers read; busy_timeout rides out short write locks.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn) -> None:
    # A deferred transaction that later writes can fail with SQLITE_BUSY at once (its snapshot is
    # stale); writers take the lock up front so they queue on busy_timeout. Readers stay deferred
    # so WAL lets them run beside a writer.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


def get_engine(url: str) -> Engine:
    url = normalize_url(url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _build_engine(url)
            _engines[url] = engine
        return engine


def _build_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _on_sqlite_connect)

        @event.listens_for(engine, "connect")
        def _disable_pysqlite_transactions(dbapi_connection, _record):
            # pysqlite's own BEGIN handling is replaced by ours (see _sqlite_begin_immediate).
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn):
            _sqlite_begin(conn)

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def session_factory(url: str) -> sessionmaker[Session]:
    url = normalize_url(url)
    with _lock:
        factory = _session_factories.get(url)
    if factory is None:
        factory = sessionmaker(bind=get_engine(url), expire_on_commit=False)
        with _lock:
            _session_factories[url] = factory
    return factory


@contextmanager
def session_scope(url: str, *, write: bool = True) -> Iterator[Session]:
    """One unit of work: commit once at the end, roll back on any error.

    `write=False` marks a read-only unit, which on SQLite does not take the write lock.
    """
    token = _write_intent.set(write)
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        _write_intent.reset(token)


def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _session_factories.clear()

"""Database engine and unit-of-work sessions. SQLite gets WAL and foreign keys; PostgreSQL uses psycopg 3."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import orjson
from sqlalchemy import CursorResult, Engine, Executable, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from slipstream.api.http import loads_like_json_module

_engines: dict[str, Engine] = {}
_session_factories: dict[str, sessionmaker[Session]] = {}
_autocommit_engines: dict[str, Engine] = {}
_lock = threading.Lock()
# Set by session_scope(write=True): SQLite transactions that will write take the lock up front.
_write_intent: ContextVar[bool] = ContextVar("slipstream_write_intent", default=False)
# Set by read_scope() on SQLite: no BEGIN at all, so each statement reads the newest committed state.
_statement_reads: ContextVar[bool] = ContextVar("slipstream_statement_reads", default=False)
# Set by session_scope(wait=False): BEGIN IMMEDIATE must not wait for another writer; a dict in which
# _sqlite_begin records that the lock was busy (raising inside SQLAlchemy's begin would leave it half-begun).
_begin_without_waiting: ContextVar[dict | None] = ContextVar("slipstream_begin_without_waiting", default=None)
_SQLITE_BUSY_TIMEOUT_S = 30
# PostgreSQL reads an API process runs at once (handlers._dispatch); its engine keeps a connection
# for each, and two more (the group-commit writer's, and one for anything else) that reads never take.
POSTGRES_READERS = 10
# A PostgreSQL connection handed back less than this long ago is used without a ping (see _ping_after_idle).
PING_AFTER_IDLE_S = 1.0


class WriteLockBusy(Exception):
    """session_scope(wait=False) found SQLite's write lock held (by this process or another)."""


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
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.close()


def _sqlite_begin(conn) -> None:
    if _statement_reads.get():
        return
    # A deferred transaction that later writes can fail with SQLITE_BUSY at once (its snapshot is
    # stale); writers take the lock up front so they queue on busy_timeout. Readers stay deferred
    # so WAL lets them run beside a writer.
    # Straight on the DBAPI connection: through exec_driver_sql this costs a statement's execution
    # context (~20 us), paid by every request.
    raw = conn.connection.driver_connection
    no_wait = _begin_without_waiting.get()
    if no_wait is None:
        raw.execute("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")
        return
    raw.execute("PRAGMA busy_timeout=0")
    try:
        raw.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
            raise
        no_wait["busy"] = True  # no transaction began; session_scope sees this and gives up
    finally:
        raw.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_S * 1000}")


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
        # Keep a connection per concurrent request (sync handlers run on up to 40 anyio threads): one
        # opened past pool_size is closed after use, and the next pays the open, pragmas and schema read.
        # LIFO: a connection's page cache is only valid until another connection writes, and the one
        # returned last (under the writer lock, the last writer's) is the one whose cache is still warm;
        # FIFO handed every trigger a connection whose cache 15 writes had invalidated.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": _SQLITE_BUSY_TIMEOUT_S},
            pool_size=40,
            max_overflow=10,
            pool_use_lifo=True,
            json_serializer=_json_dumps,
            json_deserializer=_json_loads,
        )
        event.listen(engine, "connect", _on_sqlite_connect)

        @event.listens_for(engine, "connect")
        def _disable_pysqlite_transactions(dbapi_connection, _record):
            # pysqlite's own BEGIN handling is replaced by ours (see _sqlite_begin_immediate).
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn):
            _sqlite_begin(conn)

        return engine
    engine = create_engine(
        url,
        pool_size=POSTGRES_READERS + 2,
        max_overflow=20,
        json_serializer=_json_dumps,
        json_deserializer=_json_loads,
    )
    _ping_after_idle(engine)
    return engine


def _ping_after_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it has been idle for PING_AFTER_IDLE_S.

    pool_pre_ping pings on every checkout: a round trip that cost as much CPU as a small read itself.
    A connection in steady use has just proved itself; one that sat idle (through a server restart,
    a firewall's idle timeout) is pinged, and a dead one is replaced before anyone sees it, as with
    pool_pre_ping. A server lost while connections are in use fails the statements in flight either
    way; the first such failure renews the whole pool (SQLAlchemy does so for its statements,
    slipstream.storage.prepared for those it runs), so no later request gets a connection from before the loss.
    """

    def mark_used(_dbapi_connection, record) -> None:
        record.info["returned_at"] = time.monotonic()

    def ping_if_idle(dbapi_connection, record, _proxy) -> None:
        if time.monotonic() - record.info.get("returned_at", 0.0) < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"connection idle since before a ping failed: {exc}") from exc
        record.info["returned_at"] = time.monotonic()

    event.listen(engine, "connect", mark_used)
    event.listen(engine, "checkin", mark_used)
    event.listen(engine, "checkout", ping_if_idle)


def _json_dumps(value) -> str:
    """JSON columns written with orjson (compact UTF-8, several times faster than json.dumps). orjson
    refuses integers past 64 bits and lone surrogates, and writes NaN and infinities as null: for those,
    and for any text with a null in it, json.dumps writes it as before."""
    try:
        text = orjson.dumps(value)
    except TypeError:
        return json.dumps(value)
    return json.dumps(value) if b"null" in text else text.decode()


def _json_loads(text: str | bytes):
    """JSON columns read with orjson (serialized DAGs parse several times faster), as json.loads reads
    them: integers past 64 bits, NaN, infinities and lone surrogates go to json.loads."""
    try:
        return loads_like_json_module(text)
    except ValueError:  # orjson's decode error
        return json.loads(text)


# What JSON columns are read with, for code that reads their stored text itself (slipstream.storage.raw_rows).
json_loads = _json_loads


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
def session_scope(url: str, *, write: bool = True, wait: bool = True) -> Iterator[Session]:
    """One unit of work: commit once at the end, roll back on any error.

    `write=False` marks a read-only unit, which on SQLite does not take the write lock.
    `wait=False` (SQLite writes only) takes the write lock now or raises WriteLockBusy before running
    anything, for callers that must not block (an event loop); it is ignored on other databases.
    """
    writer_lock = _sqlite_writer_lock(url) if write else None
    no_wait = not wait and writer_lock is not None
    if no_wait:
        if not writer_lock.acquire(blocking=False):
            raise WriteLockBusy(url)
    # Past SQLite's own busy timeout, go on without the lock: SQLite then answers as it always did.
    elif writer_lock is not None and not writer_lock.acquire(timeout=_SQLITE_BUSY_TIMEOUT_S):
        writer_lock = None
    try:
        token = _write_intent.set(write)
        session = session_factory(url)()
        try:
            if no_wait:
                _begin_now_or_give_up(session, url)
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
            _write_intent.reset(token)
    finally:
        if writer_lock is not None:
            writer_lock.release()


@contextmanager
def read_scope(url: str) -> Iterator[Session]:
    """A read-only unit of work for a request, each statement in its own snapshot, as under
    PostgreSQL's READ COMMITTED (which is what a transaction there gives reads anyway).

    Both yield StatementReads, a bare Session on a connection rather than the session factory's
    transaction bookkeeping. PostgreSQL: a pooled connection in autocommit, saving the BEGIN and COMMIT
    round trips. SQLite: no BEGIN, on a connection the thread keeps (together about 30 us, most of
    what a small read costs). Nothing written in it would be rolled back on an error: only for units
    that never write.
    """
    url = normalize_url(url)
    if not url.startswith("sqlite"):
        with _autocommit_engine(url).connect() as connection:
            session = StatementReads(connection)
            try:
                yield session  # type: ignore[misc]
            finally:
                session.close()
        return
    token = _statement_reads.set(True)
    try:
        with _sqlite_reader(url) as connection:
            session = StatementReads(connection)
            try:
                yield session  # type: ignore[misc]  # a Session for everything a read does
            finally:
                session.close()
    finally:
        _statement_reads.reset(token)


def _autocommit_engine(url: str) -> Engine:
    """The engine of `url` with its connections in autocommit, sharing its pool."""
    autocommit = _autocommit_engines.get(url)
    if autocommit is None:
        autocommit = get_engine(url).execution_options(isolation_level="AUTOCOMMIT")
        with _lock:
            _autocommit_engines[url] = autocommit
    return autocommit


class _ThreadReader(threading.local):
    """The SQLite connection this thread reads with, kept between read_scopes (one database at a time)."""

    engine: Engine | None = None
    connection = None
    busy = False


_thread_reader = _ThreadReader()


@contextmanager
def _sqlite_reader(url: str) -> Iterator:
    """A connection for statement reads: this thread's own, kept open, when it is free.

    Checking a connection out of the pool and back in costs about 40 us, more than a small read. The
    kept connection holds no transaction between reads (read_scope issues no BEGIN; its bookkeeping
    is ended after each), so it neither sees stale data nor holds back WAL checkpoints. A read nested
    in another, or after an error, uses the pool as before; the kept one is dropped after an error.
    """
    engine = get_engine(url)
    reader = _thread_reader
    if reader.busy:
        with engine.connect() as connection:
            yield connection
        return
    if reader.engine is not engine:
        _close_thread_reader()
        reader.connection = engine.connect()
        reader.engine = engine
    reader.busy = True
    try:
        yield reader.connection
        reader.connection.rollback()  # ends SQLAlchemy's autobegun bookkeeping; no SQL was begun
    except BaseException:
        _close_thread_reader()
        raise
    finally:
        reader.busy = False


def _close_thread_reader() -> None:
    reader = _thread_reader
    connection, reader.connection, reader.engine = reader.connection, None, None
    if connection is not None:
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - a broken connection is being dropped anyway
            connection.invalidate()


class StatementReads:
    """What read_scope() yields: a connection for Core and prepared statements
    (execute_core, slipstream.storage.prepared), and a real Session, made on first use, for anything else.

    Session.connection() alone costs ~17 us of transaction bookkeeping; the hot reads (pools, the run
    list, a DAG's existence) need none of it.
    """

    autoflush = False

    def __init__(self, connection) -> None:
        self._connection = connection
        self._session: Session | None = None

    def connection(self, **_: object):
        return self._connection

    def get_bind(self, *_: object, **__: object):
        return self._connection

    def __getattr__(self, name: str):
        if self._session is None:
            self._session = Session(bind=self._connection, autoflush=False, expire_on_commit=False)
        return getattr(self._session, name)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


_sqlite_writer_locks: dict[str, threading.RLock] = {}


def _begin_now_or_give_up(session: Session, url: str) -> None:
    """BEGIN IMMEDIATE at once, without SQLite's busy wait; WriteLockBusy if another connection writes."""
    attempt: dict = {}
    token = _begin_without_waiting.set(attempt)
    try:
        session.connection()
    finally:
        _begin_without_waiting.reset(token)
    if attempt.get("busy"):
        raise WriteLockBusy(url)


def _sqlite_writer_lock(url: str) -> threading.RLock | None:
    """SQLite has one writer at a time. Threads of one process wait for it here, in turn, rather than
    in SQLite's busy handler, which sleeps and polls (up to 100 ms a time) and so serves them late."""
    url = normalize_url(url)
    if not url.startswith("sqlite"):
        return None
    lock = _sqlite_writer_locks.get(url)
    if lock is None:
        with _lock:
            lock = _sqlite_writer_locks.setdefault(url, threading.RLock())
    return lock


def execute_core(session: Session, statement: Executable, params: dict | None = None) -> CursorResult:
    """A Core statement on the session's connection, within its unit of work.

    What session.execute() does for plain columns, without the ORM's per-statement machinery (about
    50 us a query); pending ORM changes are flushed first, as autoflush would have.
    """
    if session.autoflush:
        session.flush()
    return session.connection().execute(statement, params)


def dispose_all() -> None:
    _close_thread_reader()
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _session_factories.clear()
        _autocommit_engines.clear()

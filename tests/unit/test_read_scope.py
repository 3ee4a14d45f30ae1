"""read_scope: autocommit reads on PostgreSQL that never leak autocommit into later units of work;
on SQLite, statement reads on a connection each thread keeps."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from slipstream.services import pools
from slipstream.storage import db
from slipstream.storage.db import get_engine, normalize_url, read_scope, session_scope
from slipstream.storage.migrations.runner import upgrade
from slipstream.storage.models import Pool
from tests.databases import backend, postgres_admin_url


def _autocommit(session) -> bool:
    driver = session.connection().connection.driver_connection
    return bool(getattr(driver, "autocommit", False))


def test_reads_see_committed_rows(settings):
    with session_scope(settings.database_url) as session:
        pools.create_or_update_pool(session, name="seen", slots=3)
    with read_scope(settings.database_url) as session:
        assert [p["pool"] for p in pools.list_pools_json(session)][-1] == "seen"


def test_a_write_after_many_reads_is_still_one_transaction(settings):
    url = settings.database_url
    for _ in range(12):  # the same pooled connection, handed back and forth
        with read_scope(url) as session:
            expected = session.get_bind().dialect.name == "postgresql"
            assert _autocommit(session) is expected
    with pytest.raises(RuntimeError):
        with session_scope(url) as session:
            assert _autocommit(session) is False
            pools.create_or_update_pool(session, name="half_made", slots=1)
            session.flush()
            raise RuntimeError("the unit of work fails after its write")
    with read_scope(url) as session:
        assert session.scalar(select(func.count()).select_from(Pool).where(Pool.pool == "half_made")) == 0


# -- SQLite: the connection a thread keeps for its reads ------------------------------------------

sqlite_only = pytest.mark.skipif(backend() != "sqlite", reason="the kept reader connection is SQLite's")


def _sqlite_path(url: str) -> str:
    return normalize_url(url).removeprefix("sqlite:///")


def _pool_names(url: str) -> list[str]:
    with read_scope(url) as session:
        return [p["pool"] for p in pools.list_pools_json(session)]


@sqlite_only
def test_a_threads_reads_share_one_connection_that_sees_every_later_commit(settings):
    url = settings.database_url
    seen = set()
    for i in range(3):
        other = sqlite3.connect(_sqlite_path(url))  # a writer that is not this process's pool
        with other:
            other.execute(
                "INSERT INTO slot_pool (pool, slots, description, include_deferred) VALUES (?, 1, '', 0)", (f"w{i}",)
            )
        other.close()
        with read_scope(url) as session:
            seen.add(id(session.connection().connection.driver_connection))
            assert f"w{i}" in [p["pool"] for p in pools.list_pools_json(session)]
    assert len(seen) == 1


@sqlite_only
def test_between_reads_the_kept_connection_holds_no_snapshot(settings):
    """Otherwise the WAL could never be checkpointed back to the start while the process lives."""
    url = settings.database_url
    with session_scope(url) as session:
        pools.create_or_update_pool(session, name="w", slots=1)
    assert "w" in _pool_names(url)
    with read_scope(url) as session:
        session.scalar(select(func.count()).select_from(Pool))
        session.connection().exec_driver_sql("SELECT pool FROM slot_pool").fetchall()
    other = sqlite3.connect(_sqlite_path(url))
    try:
        busy, _log, _checkpointed = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        other.close()
    assert busy == 0


@sqlite_only
def test_a_nested_read_and_a_failed_read_leave_the_kept_connection_usable(settings):
    url = settings.database_url
    with read_scope(url) as outer:
        with read_scope(url) as inner:  # the kept connection is busy: this one comes from the pool
            assert inner.connection() is not outer.connection()
            assert "default_pool" in [p["pool"] for p in pools.list_pools_json(inner)]
        assert "default_pool" in [p["pool"] for p in pools.list_pools_json(outer)]
    with pytest.raises(OperationalError):
        with read_scope(url) as session:
            session.connection().exec_driver_sql("SELECT * FROM no_such_table")
    assert "default_pool" in _pool_names(url)


@sqlite_only
def test_a_thread_keeps_one_connection_whatever_databases_it_reads(tmp_path, settings):
    from tests.databases import sqlite_url

    urls = [settings.database_url]
    for i in range(3):
        folder = tmp_path / f"db{i}"
        folder.mkdir()
        urls.append(sqlite_url(folder))
        upgrade(urls[-1], default_pool_slots=128)
    for url in urls:
        assert _pool_names(url) == ["default_pool"]
    checked_out = [get_engine(url).pool.checkedout() for url in urls]
    assert checked_out == [0, 0, 0, 1]  # only the last database's, kept for this thread's next read


# -- PostgreSQL: pooled connections pinged only after they sat idle -------------------------------

postgres_only = pytest.mark.skipif(backend() != "postgres", reason="pinging pooled connections is PostgreSQL's")


def _terminate_connections_to(url: str) -> int:
    """What a server restart does to the pool's idle connections; how many were cut."""
    admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            return connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": make_url(normalize_url(url)).database},
            )
    finally:
        admin.dispose()


@postgres_only
def test_a_connection_used_a_moment_ago_is_not_pinged(settings, monkeypatch):
    url = settings.database_url
    _pool_names(url)
    dialect = get_engine(url).dialect
    pings = []
    ping = dialect.do_ping
    monkeypatch.setattr(dialect, "do_ping", lambda connection: pings.append(connection) or ping(connection))
    for _ in range(5):
        assert _pool_names(url) == ["default_pool"]
    assert pings == []
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
    assert _pool_names(url) == ["default_pool"]
    assert len(pings) == 1


@postgres_only
def test_an_idle_connection_the_server_dropped_is_replaced_before_use(settings, monkeypatch):
    url = settings.database_url
    assert _pool_names(url) == ["default_pool"]  # its connection now waits in the pool
    assert _terminate_connections_to(url) >= 1
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)  # as if it had waited past the threshold
    assert _pool_names(url) == ["default_pool"]
    with session_scope(url) as session:
        pools.create_or_update_pool(session, name="after_restart", slots=1)
    assert _pool_names(url) == ["default_pool", "after_restart"]


@postgres_only
def test_a_connection_lost_while_trusted_fails_one_read_and_is_then_replaced(settings, monkeypatch):
    """As pool_pre_ping could not prevent for a connection lost in use; the loss renews the whole pool."""
    url = settings.database_url
    with read_scope(url), read_scope(url):  # two connections now wait in the pool
        pass
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 3600.0)  # trusted without a ping
    assert _terminate_connections_to(url) >= 2
    driver = get_engine(url).dialect.loaded_dbapi
    with pytest.raises((OperationalError, driver.OperationalError)):
        _pool_names(url)
    assert _pool_names(url) == ["default_pool"]

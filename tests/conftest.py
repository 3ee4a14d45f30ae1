"""Fixtures shared by every test package: a migrated SQLite database and Settings in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from slipstream.config import Settings
from slipstream.storage.db import get_engine, session_scope
from slipstream.storage.migrations.runner import upgrade
from tests.databases import PostgresDatabases, backend, postgres_unreachable_reason, sqlite_url


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases | None]:
    """On the PostgreSQL run (SLIPSTREAM_TEST_BACKEND=postgres), the factory of per-test databases."""
    if backend() != "postgres":
        yield None
        return
    reason = postgres_unreachable_reason()
    if reason:
        pytest.skip(reason)
    databases = PostgresDatabases()
    yield databases
    databases.close()


@pytest.fixture
def database_url(tmp_path, postgres_databases) -> Iterator[str]:
    """A fresh, migrated database for this test only: SQLite in tmp_path, or a cloned PostgreSQL database."""
    if postgres_databases is None:
        yield sqlite_url(tmp_path)
        return
    url = postgres_databases.create()
    yield url
    postgres_databases.drop(url)


@pytest.fixture
def settings(tmp_path, database_url) -> Iterator[Settings]:
    """Settings rooted in tmp_path (DB, DAGs folder, logs), examples off, the DB migrated to head."""
    value = Settings(home=tmp_path, database_url=database_url, load_examples=False, dags_folder=tmp_path / "dags")
    value.dags_folder.mkdir(parents=True, exist_ok=True)
    upgrade(value.database_url, default_pool_slots=value.default_pool_slots)
    yield value
    get_engine(value.database_url).dispose()


@pytest.fixture
def session(settings) -> Iterator[Session]:
    """A write session on the test DB, committed when the test ends (rolled back if it raises)."""
    with session_scope(settings.database_url) as db:
        yield db

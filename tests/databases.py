"""Test databases: a fresh, migrated database per test, on SQLite or PostgreSQL.

`SLIPSTREAM_TEST_BACKEND=postgres` runs the suite on PostgreSQL (`make test` does so after the SQLite
run when a server answers at SLIPSTREAM_TEST_POSTGRES_URL). Each test gets its own database, cloned
from a migrated template, so nothing leaks between tests.
"""

from __future__ import annotations

import itertools
import os
import threading
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from slipstream.db import dispose_all, normalize_url
from slipstream.migrations.runner import upgrade

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def backend() -> str:
    return os.environ.get("SLIPSTREAM_TEST_BACKEND", "sqlite").strip().lower() or "sqlite"


def postgres_admin_url() -> str:
    return normalize_url(os.environ.get("SLIPSTREAM_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))


def postgres_unreachable_reason() -> str | None:
    """None when a PostgreSQL server answers, else why not (for pytest.skip)."""
    try:
        engine = create_engine(postgres_admin_url(), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any driver or network error means "not here"
        return f"PostgreSQL is not reachable at {postgres_admin_url()}: {type(exc).__name__}: {exc}"


class PostgresDatabases:
    """Creates databases from a migrated template; drops them when done."""

    def __init__(self) -> None:
        self.admin_url = postgres_admin_url()
        self._admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self._prefix = f"slipstream_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self.template = f"{self._prefix}_template"
        self._execute(f'CREATE DATABASE "{self.template}"')
        upgrade(self._url(self.template))
        dispose_all()  # a template must have no open connections when it is cloned

    def _url(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def _execute(self, sql: str) -> None:
        with self._admin.connect() as connection:
            connection.execute(text(sql))

    def create(self) -> str:
        with self._lock:
            name = f"{self._prefix}_{next(self._counter)}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return self._url(name)

    def drop(self, url: str) -> None:
        dispose_all()
        name = make_url(url).database
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        dispose_all()
        self._execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        self._admin.dispose()


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'slipstream.db'}"


if __name__ == "__main__":
    # `python -m tests.databases`: exit 0 when PostgreSQL answers, else print why and exit 1.
    import sys

    why = postgres_unreachable_reason()
    if why:
        print(why)
    sys.exit(1 if why else 0)

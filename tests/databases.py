"""Test databases: a fresh, migrated database per test, on SQLite or PostgreSQL.

`SLIPSTREAM_TEST_BACKEND=postgres` runs the suite on PostgreSQL (`make test` does so after the SQLite
run when a server answers at SLIPSTREAM_TEST_POSTGRES_URL). Each test gets its own database, cloned
from a migrated template, so nothing leaks between tests.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from slipstream.storage.db import dispose_all, normalize_url
from slipstream.storage.migrations.runner import upgrade

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Names of test databases: slipstream_test_<pid>_<host>_<random>_<what>. The host tag says which
# machine's (or container's) process ids the pid belongs to, so that only this host's leftovers of
# crashed runs are dropped.
PREFIX = "slipstream_test_"
HOST_TAG = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
_NAME = re.compile(rf"^{PREFIX}(\d+)_{HOST_TAG}_")


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


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process, but alive
        return True
    return True


class PostgresDatabases:
    """Creates databases from a migrated template (or from templates prepared on top of it, see
    `create_template`); drops them when done.

    Cloning and dropping a database is mostly the server's disk work (every database holds its own
    copy of the system catalogs), so two background threads do it while tests run: one keeps the
    next PREFETCH clones of each template in use ready, the other drops databases tests are done with."""

    PREFETCH = 2
    MAX_PENDING_DROPS = 16  # then drop() waits: fast tests outrun the drops, whose disk space adds up

    def __init__(self) -> None:
        self.admin_url = postgres_admin_url()
        self._admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self._prefix = f"{PREFIX}{os.getpid()}_{HOST_TAG}_{uuid.uuid4().hex[:6]}"
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._live: set[str] = set()  # per-test databases (and clones made ahead) not dropped yet
        self._ahead: dict[str, deque[Future[str]]] = {}  # template -> clones being made or ready
        self._maker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-databases-create")
        self._dropper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-databases-drop")
        self._drops: deque[Future[None]] = deque()
        self.drop_orphans()
        self.template = f"{self._prefix}_template"
        self._templates = [self.template]
        self._execute(f'CREATE DATABASE "{self.template}"')
        upgrade(self.url(self.template))
        self._release(self.template)  # a template must have no open connections when it is cloned

    def url(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def _execute(self, sql: str, **params: object) -> list:
        with self._admin.connect() as connection:
            result = connection.execute(text(sql), params)
            return list(result) if result.returns_rows else []

    def _terminate(self, name: str) -> None:
        """End every session on `name`, whoever holds it."""
        self._execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()",
            name=name,
        )

    def _release(self, name: str) -> None:
        """Close this process's pooled connections, and end any other session still on `name`."""
        dispose_all()
        self._terminate(name)

    def drop_orphans(self) -> list[str]:
        """Drop the test databases that crashed runs on this host left behind (their process is gone)."""
        dropped = []
        for (name,) in self._execute(
            "SELECT datname FROM pg_database WHERE datname LIKE :pattern", pattern=f"{PREFIX}%"
        ):
            match = _NAME.match(name)
            if match and not _process_exists(int(match.group(1))):
                try:
                    self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    dropped.append(name)
                except OperationalError:  # another session dropping it too, say
                    pass
        return dropped

    def _new_name(self) -> str:
        with self._lock:
            name = f"{self._prefix}_{next(self._counter)}"
            self._live.add(name)
        return name

    def _clone(self, source: str, name: str) -> str:
        statement = f'CREATE DATABASE "{name}" TEMPLATE "{source}"'
        try:
            self._execute(statement)
        except OperationalError as exc:
            if "is being accessed by other users" not in str(exc):
                raise
            self._terminate(source)  # not dispose_all(): this may run on the background thread
            self._execute(statement)
        return name

    def _drop_now(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        with self._lock:
            self._live.discard(name)

    def create(self, template: str | None = None) -> str:
        """A new database cloned from `template` (a name from create_template; default: the migrated
        template), as a URL."""
        source = template or self.template
        with self._lock:
            ahead = self._ahead.setdefault(source, deque())
            made = ahead.popleft() if ahead else None
        name = None
        if made is not None:
            try:
                name = made.result()
            except OperationalError:
                name = None  # made again below, in the foreground, where an error is reported
        if name is None:
            name = self._clone(source, self._new_name())
        with self._lock:
            missing = self.PREFETCH - len(ahead)
        for _ in range(missing):
            made_ahead = self._maker.submit(self._clone, source, self._new_name())
            with self._lock:
                ahead.append(made_ahead)
        return self.url(name)

    def create_template(self, prepare: Callable[[str], None], template: str | None = None) -> str:
        """A further template: a clone of `template` (default: the migrated one) that `prepare(url)`
        fills (example DAGs, users...), then cut off from every connection so that it can be cloned.
        Returns its name, for create(template=...); close() drops it."""
        source = template or self.template
        name = self._clone(source, self._new_name())  # not one made ahead: those are for tests
        with self._lock:
            self._live.discard(name)
        self._templates.append(name)
        try:
            prepare(self.url(name))
        finally:
            self._release(name)
        return name

    def drop(self, url: str) -> None:
        """Close this process's connections to it now; drop it (WITH (FORCE)) in the background."""
        dispose_all()
        self._drops.append(self._dropper.submit(self._drop_now, make_url(url).database))
        while self._drops and (self._drops[0].done() or len(self._drops) > self.MAX_PENDING_DROPS):
            self._drops.popleft().exception()  # waits; a failed drop is retried by close()

    def close(self) -> None:
        """Drop the templates, clones made ahead, and any test database not dropped yet."""
        dispose_all()
        self._maker.shutdown(wait=True)
        self._dropper.shutdown(wait=True)
        for name in [*sorted(self._live), *reversed(self._templates)]:
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
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

"""How task-model code (Variable, Connection, templates) reaches the metadata database from any process.

A task process is told its Settings by the fork server that forked it (local executor and Celery
workers alike: both run tries through a fork server), which calls `bind_task_process`. Elsewhere
(the CLI, a DAG file parsed at top level, a test) the settings come from the SLIPSTREAM_* environment.

A forked task process inherits the fork server's pooled connections; it must never talk on them,
so on its first database use it drops them (unclosed: they are the fork server's) and opens its own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from slipstream.config import Settings
from slipstream.scheduler.write_lock import write_session as _write_session
from slipstream.storage.db import get_engine, session_scope
from slipstream.storage.encryption import SecretCipher, cipher_for

_lock = threading.Lock()
_settings: Settings | None = None
_inherited_pid: int | None = None  # the pid whose pool came from a fork server, until it is dropped


def bind_task_process(settings: Settings) -> None:
    """Called in a task process as it starts: these are the settings its task code reads with."""
    global _settings, _inherited_pid
    with _lock:
        _settings = settings
        _inherited_pid = os.getpid()
    _mask_configured_secrets(settings)


def bind_settings(settings: Settings) -> None:
    """A long-running process that is not a task process (the triggerer): read with these settings."""
    global _settings
    with _lock:
        _settings = settings


def _mask_configured_secrets(settings: Settings) -> None:
    """Task code can reach the settings (`conf`): their secrets never reach the task's log either.
    The database URL is masked whole, as Airflow masks sql_alchemy_conn: masking only its password
    would turn a weak one ("postgres") into *** wherever the word appears."""
    from slipstream.scheduler.masking import add_sensitive_words, mask_secret

    add_sensitive_words(settings.sensitive_var_conn_names)
    for key in settings.fernet_key.split(","):
        mask_secret(key.strip() or None)
    if "@" in settings.database_url:  # only a URL with credentials holds a secret
        mask_secret(settings.database_url)


def current_settings() -> Settings:
    global _settings
    with _lock:
        if _settings is None:
            _settings = Settings.from_env()
        return _settings


def cipher() -> SecretCipher:
    return cipher_for(current_settings())


def _own_connections(url: str) -> None:
    global _inherited_pid
    with _lock:
        if _inherited_pid != os.getpid():
            return
        _inherited_pid = None
    get_engine(url).dispose(close=False)


@contextmanager
def read_session() -> Iterator[Session]:
    url = current_settings().database_url
    _own_connections(url)
    with session_scope(url, write=False) as session:
        yield session


@contextmanager
def read_connection() -> Iterator[Connection]:
    """A Core connection for a lean read (no ORM session): what a task's XCom pulls use."""
    url = current_settings().database_url
    _own_connections(url)
    with get_engine(url).connect() as connection:
        yield connection


@contextmanager
def write_session() -> Iterator[Session]:
    """A write transaction queued behind the engine's other writers (see scheduler.write_lock)."""
    url = current_settings().database_url
    _own_connections(url)
    with _write_session(url) as session:
        yield session

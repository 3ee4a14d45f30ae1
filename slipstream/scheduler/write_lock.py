"""Write transactions of the engine's processes, queued on a file lock when the database is SQLite.

SQLite lets one writer in at a time and makes the others poll with growing sleeps (up to 100 ms),
so with the scheduler and dozens of task processes writing, the lock often sits free while every
waiter sleeps. An flock() queue in front of BEGIN IMMEDIATE hands the lock over at once instead.
Writers that do not take the file lock (the API) still work: they meet SQLite's busy timeout.
On PostgreSQL this is a plain session_scope.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from slipstream.storage.db import normalize_url, session_scope

_local = threading.local()


def lock_path_for(url: str) -> str | None:
    """`<database file>.write-lock` for a file-backed SQLite URL, else None."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return f"{os.path.abspath(parsed.database)}.write-lock"


def _lock_fd(path: str) -> int:
    # One descriptor per thread and process: flock() locks conflict between descriptors, so two
    # threads of one process queue like two processes do.
    fds: dict[tuple[int, str], int] = getattr(_local, "fds", None) or {}
    _local.fds = fds
    key = (os.getpid(), path)
    fd = fds.get(key)
    if fd is None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fds[key] = fd
    return fd


@contextmanager
def write_session(url: str) -> Iterator[Session]:
    """session_scope(url, write=True), queued behind the other engine writers on SQLite."""
    path = lock_path_for(url)
    if path is None:
        with session_scope(url) as session:
            yield session
        return
    fd = _lock_fd(path)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with session_scope(url) as session:
            yield session
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)

"""The database session a handler works in: one unit of work per request, committed once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from slipstream.db import session_scope
from slipstream.http import current_settings


@contextmanager
def reading() -> Iterator[Session]:
    with session_scope(current_settings().database_url, write=False) as session:
        yield session


@contextmanager
def writing() -> Iterator[Session]:
    with session_scope(current_settings().database_url, write=True) as session:
        yield session

"""Where a handler's unit of work runs: reads in a session of their own, changes group-committed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.orm import Session

from slipstream.api.http import current_settings
from slipstream.storage.db import read_scope
from slipstream.storage.group_commit import run_group_committed

T = TypeVar("T")


@contextmanager
def reading() -> Iterator[Session]:
    with read_scope(current_settings().database_url) as session:
        yield session


async def group_committed(work: Callable[[Session], T]) -> T:
    """`work(session)` committed by this process's writer thread, in one transaction with the units
    of other requests waiting at the same moment (see slipstream.storage.group_commit); its result."""
    return await run_group_committed(current_settings().database_url, work)

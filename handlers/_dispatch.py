"""Where a handler's database work runs.

SQLite reads are in-process and never wait for a lock under WAL, so they run on the event loop and
skip the thread hand-off (which costs about as much as the query). PostgreSQL reads, which wait on
the network, run in the thread pool. Writes go to the group-commit writer thread (handlers._unit_of_work).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from slipstream.http import current_settings


def database_read(handler: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handler)
    async def dispatch(*args: Any, **kwargs: Any) -> Any:
        if current_settings().is_sqlite:
            return handler(*args, **kwargs)
        return await run_in_threadpool(handler, *args, **kwargs)

    return dispatch

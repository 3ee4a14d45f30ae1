"""Where a handler's database work runs.

SQLite reads are in-process and never wait for a lock under WAL, so they run on the event loop and
skip the thread hand-off (which costs about as much as the query). PostgreSQL reads, which wait on
the network, run on this process's POSTGRES_READERS threads, each with a connection the pool keeps: more
than that made the pool open and close a connection (a PostgreSQL backend) per request, which cost
the server more CPU than the reads. Writes go to the group-commit writer thread (handlers._unit_of_work).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slipstream.api.http import current_settings
from slipstream.storage.db import POSTGRES_READERS

_readers: ThreadPoolExecutor | None = None
_readers_lock = threading.Lock()


def _reader_threads() -> ThreadPoolExecutor:
    global _readers
    with _readers_lock:
        if _readers is None:
            _readers = ThreadPoolExecutor(max_workers=POSTGRES_READERS, thread_name_prefix="slipstream-read")
        return _readers


def database_read(handler: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handler)
    async def dispatch(*args: Any, **kwargs: Any) -> Any:
        if current_settings().is_sqlite:
            return handler(*args, **kwargs)
        # The request's context (its settings, Connexion's request) goes along to the reader thread.
        call = functools.partial(contextvars.copy_context().run, handler, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(_reader_threads(), call)

    return dispatch

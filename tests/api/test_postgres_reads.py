"""PostgreSQL reads run on reader threads, no more at once than the connections the pool keeps."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy import create_engine, event, text

from slipstream.api.app import create_app
from slipstream.storage.db import POSTGRES_READERS, get_engine
from tests.api.support import BASE
from tests.databases import backend

pytestmark = pytest.mark.skipif(backend() != "postgres", reason="the reader threads serve PostgreSQL reads")
REQUESTS = 3 * POSTGRES_READERS


def _reads_waiting_for(lock_holder, database: str) -> int:
    return lock_holder.execute(
        text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = :name AND wait_event_type = 'Lock' "
            "AND query LIKE 'SELECT slot_pool.%'"
        ),
        {"name": database},
    ).scalar()


def test_concurrent_reads_wait_for_a_reader_rather_than_open_connections(app_settings):
    url = app_settings.database_url
    app = create_app(app_settings)
    engine = get_engine(url)
    opened = []

    def count_opened(*_) -> None:
        opened.append(1)

    event.listen(engine, "connect", count_opened)
    holder_engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with holder_engine.connect() as lock_holder, holder_engine.connect() as observer:
            lock_holder.exec_driver_sql("BEGIN")
            lock_holder.exec_driver_sql("LOCK TABLE slot_pool IN ACCESS EXCLUSIVE MODE")

            async def burst() -> tuple[list[httpx.Response], int]:
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                    requests = [asyncio.ensure_future(client.get(f"{BASE}/pools")) for _ in range(REQUESTS)]
                    deadline = time.monotonic() + 10
                    waiting = 0
                    while waiting < POSTGRES_READERS and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                        waiting = await asyncio.to_thread(_reads_waiting_for, observer, observer.engine.url.database)
                    await asyncio.sleep(0.5)  # time for any further read to reach the database
                    waiting = await asyncio.to_thread(_reads_waiting_for, observer, observer.engine.url.database)
                    lock_holder.exec_driver_sql("COMMIT")
                    return await asyncio.gather(*requests), waiting

            responses, waiting = asyncio.run(burst())
    finally:
        holder_engine.dispose()
        event.remove(engine, "connect", count_opened)

    assert waiting == POSTGRES_READERS
    assert [r.status_code for r in responses] == [200] * REQUESTS
    assert all(r.json()[0]["pool"] == "default_pool" for r in responses)
    assert len(opened) <= POSTGRES_READERS

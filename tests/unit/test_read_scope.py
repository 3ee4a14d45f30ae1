"""read_scope: autocommit reads on PostgreSQL that never leak autocommit into later units of work."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from slipstream.db import read_scope, session_scope
from slipstream.models import Pool
from slipstream.services import pools


def _autocommit(session) -> bool:
    driver = session.connection().connection.driver_connection
    return bool(getattr(driver, "autocommit", False))


def test_reads_see_committed_rows(settings):
    with session_scope(settings.database_url) as session:
        pools.create_or_update_pool(session, name="seen", slots=3)
    with read_scope(settings.database_url) as session:
        assert [p["pool"] for p in pools.list_pools_json(session)][-1] == "seen"


def test_a_write_after_many_reads_is_still_one_transaction(settings):
    url = settings.database_url
    for _ in range(12):  # the same pooled connection, handed back and forth
        with read_scope(url) as session:
            expected = session.get_bind().dialect.name == "postgresql"
            assert _autocommit(session) is expected
    with pytest.raises(RuntimeError):
        with session_scope(url) as session:
            assert _autocommit(session) is False
            pools.create_or_update_pool(session, name="half_made", slots=1)
            session.flush()
            raise RuntimeError("the unit of work fails after its write")
    with read_scope(url) as session:
        assert session.scalar(select(func.count()).select_from(Pool).where(Pool.pool == "half_made")) == 0

"""`slipstream db upgrade`: apply Alembic revisions; safe to run on every start and from many processes."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from slipstream.storage.db import get_engine

MIGRATIONS_DIR = Path(__file__).parent
# Any fixed number: every Slipstream process that migrates takes the same PostgreSQL advisory lock.
_ADVISORY_LOCK_KEY = 0x5115_7EA3


def alembic_config(connection, default_pool_slots: int = 128) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    cfg.attributes["default_pool_slots"] = default_pool_slots
    return cfg


def upgrade(database_url: str, default_pool_slots: int = 128, revision: str = "head") -> None:
    engine = get_engine(database_url)
    if engine.dialect.name == "postgresql":
        with engine.connect() as lock_conn:
            # Session-level lock: concurrent upgraders wait here, then find nothing left to do.
            lock_conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
            try:
                _run(engine, default_pool_slots, revision)
            finally:
                lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_LOCK_KEY})
                lock_conn.commit()
    else:
        _run(engine, default_pool_slots, revision)


def _run(engine, default_pool_slots: int, revision: str) -> None:
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection, default_pool_slots), revision)


def current_revision(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with get_engine(database_url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()

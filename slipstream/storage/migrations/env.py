"""Alembic environment: runs against the connection handed over by slipstream.storage.migrations.runner."""

from __future__ import annotations

from alembic import context

import slipstream.storage.dataset_models  # noqa: F401  (their tables are part of the metadata)
from slipstream.storage.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()

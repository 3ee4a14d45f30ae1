"""The migrations build exactly the schema the ORM models describe: a column added to a model without
its migration (or the reverse) fails here, not in production."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from slipstream.storage import dataset_models  # noqa: F401 - registers the dataset tables on Base.metadata
from slipstream.storage.migrations.runner import upgrade
from slipstream.storage.models import Base


def test_migrated_schema_has_no_difference_from_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    upgrade(url)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []

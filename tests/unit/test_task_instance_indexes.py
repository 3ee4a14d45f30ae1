"""Migration 0003: the state indexes of task_instance leave out rows without a state (new ones)."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text

from slipstream.storage.db import get_engine
from slipstream.storage.migrations.runner import alembic_config, upgrade


def _index_definitions(url: str) -> dict[str, str]:
    engine = get_engine(url)
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.execute(text("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'task_instance'"))
        else:
            rows = connection.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'task_instance'")
            )
        return {name: (sql or "") for name, sql in rows}


def _partial(definition: str) -> bool:
    return "state IS NOT NULL" in definition.replace("(", "").replace(")", "")


def test_the_state_indexes_are_partial_and_the_run_index_is_not(settings):
    definitions = _index_definitions(settings.database_url)
    assert _partial(definitions["idx_ti_state"]) and _partial(definitions["idx_ti_pool"])
    assert not _partial(definitions["idx_ti_dag_run_state"])  # it counts the instances without a state too


def test_the_migration_goes_down_and_up_again(settings):
    with get_engine(settings.database_url).begin() as connection:
        command.downgrade(alembic_config(connection), "0002")
    definitions = _index_definitions(settings.database_url)
    assert not _partial(definitions["idx_ti_state"]) and not _partial(definitions["idx_ti_pool"])
    upgrade(settings.database_url)
    assert _partial(_index_definitions(settings.database_url)["idx_ti_state"])


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("SELECT id FROM task_instance WHERE state = ? LIMIT 1", "idx_ti_state"),
        ("SELECT pool, sum(pool_slots) FROM task_instance WHERE state IN (?, ?) GROUP BY pool", "idx_ti_"),
        ("SELECT id FROM task_instance WHERE pool = ? AND state = ?", "idx_ti_pool"),
    ],
)
def test_the_schedulers_queries_still_use_them(settings, query, index):
    """A comparison with a bound value implies a state, so SQLite's planner takes the partial index."""
    engine = get_engine(settings.database_url)
    if engine.dialect.name != "sqlite":
        pytest.skip("the plan is read on SQLite; PostgreSQL proves the same for its strict operators")
    with engine.connect() as connection:
        plan = " ".join(
            row[-1]
            for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + query, ("queued", "x")[: query.count("?")])
        )
    assert index in plan, plan

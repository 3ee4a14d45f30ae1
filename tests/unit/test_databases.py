"""The PostgreSQL run's per-test databases (tests/databases.py): clones, templates, and the cleanup of
what crashed runs left behind. Runs on the PostgreSQL run only (SLIPSTREAM_TEST_BACKEND=postgres)."""

from __future__ import annotations

import os
import subprocess

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from slipstream.storage.db import session_scope
from slipstream.storage.models import Pool
from tests.databases import HOST_TAG, PREFIX, PostgresDatabases


@pytest.fixture
def databases(postgres_databases) -> PostgresDatabases:
    if postgres_databases is None:
        pytest.skip("PostgreSQL run only (SLIPSTREAM_TEST_BACKEND=postgres)")
    return postgres_databases


def existing(databases: PostgresDatabases) -> set[str]:
    return {name for (name,) in databases._execute("SELECT datname FROM pg_database")}


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def pools(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {name for (name,) in connection.execute(text("SELECT pool FROM slot_pool"))}
    finally:
        engine.dispose()


def test_leftovers_of_dead_processes_on_this_host_are_dropped(databases):
    dead = f"{PREFIX}{dead_pid()}_{HOST_TAG}_feed00_7"
    alive = f"{PREFIX}{os.getpid()}_{HOST_TAG}_feed00_7"  # this process: still running
    elsewhere = f"{PREFIX}{dead_pid()}_zzzzzz_feed00_7"  # another host's pid means nothing here
    names = (dead, alive, elsewhere)
    for name in names:
        databases._execute(f'CREATE DATABASE "{name}"')
    try:
        dropped = databases.drop_orphans()

        assert dead in dropped
        assert dead not in existing(databases)
        assert {alive, elsewhere} <= existing(databases)
    finally:
        for name in names:
            databases._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_each_clone_is_its_own_database(databases):
    first, second = databases.create(), databases.create()
    try:
        assert make_url(first).database != make_url(second).database
        with session_scope(first) as db:
            db.add(Pool(pool="only_in_first", slots=1, description="", include_deferred=False))

        assert "only_in_first" in pools(first)
        assert "only_in_first" not in pools(second)
    finally:
        databases.drop(first)
        databases.drop(second)


def test_a_prepared_template_is_cloned_with_what_it_holds(databases):
    def prepare(url: str) -> None:
        with session_scope(url) as db:
            db.add(Pool(pool="from_the_template", slots=2, description="", include_deferred=False))

    template = databases.create_template(prepare)
    clone, plain = databases.create(template=template), databases.create()
    try:
        assert "from_the_template" in pools(clone)
        assert "from_the_template" not in pools(plain)
    finally:
        databases.drop(clone)
        databases.drop(plain)

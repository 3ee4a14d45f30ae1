"""Fixtures for the HTTP tests: the app on its own copy of a database that holds the example DAGs."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from slipstream.api import app as app_module
from slipstream.api.app import create_app
from slipstream.config import Settings
from tests.api.support import api_settings, build_template_database, copy_database, drop_database


@pytest.fixture(scope="session", autouse=True)
def parse_specs_once() -> Iterator[None]:
    """Every test builds its own app; parsing the YAML spec once (and handing out copies) halves that cost."""
    parsed: dict[Path, dict] = {}
    load_spec = app_module.load_spec

    def cached_load_spec(path: Path = app_module.SPEC_PATH) -> dict:
        if path not in parsed:
            parsed[path] = load_spec(path)
        return copy.deepcopy(parsed[path])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(app_module, "load_spec", cached_load_spec)
        yield


@pytest.fixture(scope="session")
def example_dags_database(tmp_path_factory, postgres_databases) -> str:
    """Built once: the dag processor parses the example DAGs in child processes, which takes a while.
    The template's URL: a SQLite file, or a PostgreSQL template database on the PostgreSQL run."""
    return build_template_database(tmp_path_factory.mktemp("example_dags_template"), postgres_databases)


@pytest.fixture
def app_settings(example_dags_database, postgres_databases, tmp_path) -> Iterator[Settings]:
    """Open auth (`default`), examples loaded, and this test's own database, copied from the template."""
    url = copy_database(example_dags_database, tmp_path, postgres_databases)
    settings = api_settings(tmp_path, database_url=url)
    settings.dags_folder.mkdir(parents=True, exist_ok=True)
    yield settings
    drop_database(url, postgres_databases)


@pytest.fixture
def client(app_settings):
    """Connexion's (Starlette's) test client; responses are validated against the spec too."""
    return create_app(app_settings, validate_responses=True).test_client()

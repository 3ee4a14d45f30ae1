"""Fixtures for the contract tests: the app on a database holding the example DAGs, a few runs and pools."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from slipstream.api.app import create_app
from slipstream.config import Settings
from slipstream.services import users
from slipstream.storage.db import session_scope
from slipstream.storage.models import DagModel
from tests.api.support import BASE, BASH_DAG, api_settings, build_template_database, copy_database, drop_database
from tests.databases import PostgresDatabases
from tests.live_server import ApiServer

# Runs the contract tests can find: the spec's own example date, and dates with task instances.
SEED_RUNS = [
    {"run_id": "spec_example", "execution_date": "2016-11-16T11:34:15"},
    {"run_id": "seed_1", "execution_date": "2030-03-04T05:06:07.123456+00:00", "conf": {"key": "value"}},
    {"run_id": "seed_2", "execution_date": "2022-01-01T00:00:00+00:00"},
]
# Bare DAG rows for the delete operations to remove, so that deleting does not cost the example DAGs.
DISPOSABLE_DAG_IDS = [f"disposable_{i:02d}" for i in range(40)]
EXAMPLE_DAG_IDS = ("example_bash_operator", "example_pool", "example_python_operator")
# The basic_auth user of live_server.
USERNAME, PASSWORD = "contract-user", "a long enough password"


@pytest.fixture(scope="session")
def contract_template_database(tmp_path_factory, postgres_databases) -> str:
    """The template's URL (a SQLite file, or a PostgreSQL template database)."""
    return build_template_database(tmp_path_factory.mktemp("contract_template"), postgres_databases)


def seed(app, settings: Settings) -> None:
    client = app.test_client()
    for body in SEED_RUNS:
        response = client.post(f"{BASE}/dags/{BASH_DAG}/dag_runs", json=body)
        assert response.status_code == 200, response.text
    response = client.post(f"{BASE}/pools", json={"name": "experimental_1", "slots": 0, "description": "e1"})
    assert response.status_code == 200, response.text
    with session_scope(settings.database_url) as db:
        for dag_id in DISPOSABLE_DAG_IDS:
            db.add(DagModel(dag_id=dag_id, fileloc=""))


def restore_example_dags(app, settings: Settings) -> None:
    """After an example DAG was deleted: parse the example files again and re-create the seeded runs."""
    from slipstream.dag_processing import process_all

    process_all(settings)
    client = app.test_client()
    for body in SEED_RUNS:
        response = client.post(f"{BASE}/dags/{BASH_DAG}/dag_runs", json=body)
        # 400: the run survived (another DAG was deleted).
        assert response.status_code in (200, 400), response.text


def fresh_app(template: str, home: Path, databases: PostgresDatabases | None):
    """An app on its own seeded copy of the template (release it with drop_database). Response
    validation is on: a response that breaks the spec becomes a 500, which the checks report too."""
    settings = api_settings(home, database_url=copy_database(template, home, databases))
    settings.dags_folder.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, validate_responses=True)
    seed(app, settings)
    return app, settings


@pytest.fixture(scope="module")
def contract_app_and_settings(contract_template_database, postgres_databases, tmp_path_factory) -> Iterator[tuple]:
    """One database per module: Hypothesis runs many examples, and every operation, against one app."""
    home = tmp_path_factory.mktemp("contract")
    app, settings = fresh_app(contract_template_database, home, postgres_databases)
    yield app, settings
    drop_database(settings.database_url, postgres_databases)


@pytest.fixture(scope="module")
def contract_app(contract_app_and_settings):
    return contract_app_and_settings[0]


@pytest.fixture(scope="module")
def contract_settings(contract_app_and_settings) -> Settings:
    return contract_app_and_settings[1]


@pytest.fixture(scope="module")
def live_server(contract_template_database, postgres_databases, tmp_path_factory) -> Iterator[ApiServer]:
    """A real `slipstream api` with basic_auth (user USERNAME), on a seeded copy of the contract database,
    with two bare DAG rows to delete (client_retired_1 and _2)."""
    home = tmp_path_factory.mktemp("live_server")
    settings = api_settings(home, database_url=copy_database(contract_template_database, home, postgres_databases))
    settings.dags_folder.mkdir(parents=True, exist_ok=True)
    seed(create_app(settings), settings)
    with session_scope(settings.database_url) as session:
        users.create_user(session, USERNAME, PASSWORD, actor={"username": None, "remote_addr": None})
        session.add_all([DagModel(dag_id=f"client_retired_{i}", fileloc="") for i in (1, 2)])
    secure = settings.with_overrides(auth_backend="basic_auth")
    # A fuzzer sends wrong credentials on purpose (Schemathesis's ignored_auth check), far more than the
    # failed-login limit lets through; the server under contract test runs without that limit.
    with ApiServer(secure, log=home / "api.log", SLIPSTREAM_AUTH_FAILURES_PER_MINUTE="0") as api:
        yield api
    drop_database(settings.database_url, postgres_databases)

"""Fixtures for the security tests: the app under each auth backend, on its own copy of a database
holding the example DAGs and one user, and a snapshot of every table to prove nothing changed."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text

from slipstream.api.app import create_app
from slipstream.api.auth import BACKENDS, verified_credentials
from slipstream.config import Settings
from slipstream.services import users
from slipstream.storage.db import get_engine, session_scope
from tests.api.support import api_settings, build_template_database, copy_database, drop_database
from tests.databases import PostgresDatabases

USERNAME = "auditor"
PASSWORD = "correct horse battery staple"
# The address the test client reports as the caller (scope["client"]), so the audit log has one to record.
CLIENT_ADDRESS = "203.0.113.7"


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


GOOD = basic(USERNAME, PASSWORD)
WRONG = basic(USERNAME, "not the password")


@dataclass
class SecureApp:
    settings: Settings
    client: Any

    def snapshot(self) -> dict[str, list[tuple]]:
        return snapshot_tables(self.settings.database_url)


def snapshot_tables(database_url: str) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order: equal snapshots mean nothing stored changed."""
    engine = get_engine(database_url)
    tables = inspect(engine).get_table_names()
    with engine.connect() as connection:
        return {
            table: sorted(
                (tuple(row) for row in connection.execute(text(f'SELECT * FROM "{table}"'))),
                key=repr,
            )
            for table in tables
        }


def add_auditor(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        users.create_user(session, USERNAME, PASSWORD, actor={"username": None, "remote_addr": "test-setup"})


@pytest.fixture(scope="session")
def security_database(tmp_path_factory, postgres_databases) -> str:
    """Migrations, the example DAGs and the user `auditor`, built once and copied for each test; its URL."""
    home = tmp_path_factory.mktemp("security_template")
    return build_template_database(home, postgres_databases, prepare=add_auditor)


def build_app(
    template: str, home: Path, backend: str, databases: PostgresDatabases | None, **overrides: Any
) -> SecureApp:
    """The app under `backend` on its own copy of the template database, in `home`."""
    home.mkdir(parents=True)
    url = copy_database(template, home, databases)
    # Most security tests send many wrong passwords from one address on purpose; the failed-login
    # limits have their own tests (test_auth_limits.py), which set the limit they test.
    overrides.setdefault("auth_failures_per_minute", 0)
    settings = api_settings(home, auth_backend=backend, database_url=url, **overrides)
    settings.dags_folder.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, validate_responses=True)
    return SecureApp(settings, app.test_client(client=(CLIENT_ADDRESS, 40000)))


@pytest.fixture
def make_app(security_database, postgres_databases, tmp_path) -> Iterator:
    """make_app(backend) -> SecureApp: a fresh database copy served under that SLIPSTREAM_AUTH_BACKEND."""
    made: list[SecureApp] = []

    def make(backend: str = "basic_auth", **overrides: Any) -> SecureApp:
        home = tmp_path / f"{backend}-{len(made)}"
        made.append(build_app(security_database, home, backend, postgres_databases, **overrides))
        return made[-1]

    yield make
    for app in made:
        drop_database(app.settings.database_url, postgres_databases)


@pytest.fixture(scope="module")
def module_apps(security_database, postgres_databases, tmp_path_factory) -> Iterator[dict[str, SecureApp]]:
    """One app per backend, shared by a module's tests that only read (or only need "not 401/403")."""
    root = tmp_path_factory.mktemp("backends")
    apps = {backend: build_app(security_database, root / backend, backend, postgres_databases) for backend in BACKENDS}
    yield apps
    for app in apps.values():
        drop_database(app.settings.database_url, postgres_databases)


@pytest.fixture
def secure(make_app) -> SecureApp:
    """The default backend, basic_auth."""
    return make_app("basic_auth")


@pytest.fixture
def fresh_credentials_cache() -> Iterator[None]:
    """Tests about argon2 verification start without cached verifications."""
    verified_credentials.clear()
    yield
    verified_credentials.clear()


def user_hash(database_url: str, username: str) -> str | None:
    from slipstream.storage.models import User

    with session_scope(database_url, write=False) as session:
        return session.scalar(select(User.password_hash).where(User.username == username))

"""Users: rules, salted slow hashes, no plaintext anywhere, the CLI, and standalone's first admin."""

from __future__ import annotations

import logging
import os
import stat

import orjson
import pytest
from typer.testing import CliRunner

from slipstream.cli import app as cli
from slipstream.errors import BadRequest, Conflict, NotFound
from slipstream.services import users
from slipstream.storage.db import session_scope
from tests.security.conftest import basic, snapshot_tables, user_hash

BASE = "/api/experimental"
ACTOR = {"username": None, "remote_addr": None}
runner = CliRunner()


@pytest.fixture
def cli_env(secure, monkeypatch):
    """`slipstream ...` commands against the secure app's database."""
    monkeypatch.setenv("SLIPSTREAM_HOME", str(secure.settings.home))
    monkeypatch.setenv("SLIPSTREAM_DATABASE_URL", secure.settings.database_url)
    return secure


def run_cli(*args: str, input: str | None = None):
    result = runner.invoke(cli, list(args), input=input)
    return result


def assert_nowhere_in_database(database_url: str, secret: str) -> None:
    for table, rows in snapshot_tables(database_url).items():
        for row in rows:
            for value in row:
                text = value if isinstance(value, str) else repr(value)
                assert secret not in text, f"plaintext password found in table {table}: {row}"


@pytest.mark.parametrize(
    "username",
    ["", "a:b", "with space", "x" * 65, "-leading-dash", ".dot", "ctrl\x01char", "nul\x00", "日本", "semi;colon"],
)
def test_username_rules(secure, username):
    with session_scope(secure.settings.database_url) as session, pytest.raises(BadRequest):
        users.create_user(session, username, "long enough password", actor=ACTOR)


@pytest.mark.parametrize("password", ["", "short", "x" * 1025, "tab\there-long", "nul\x00-long-enough"])
def test_password_rules(secure, password):
    with session_scope(secure.settings.database_url) as session, pytest.raises(BadRequest):
        users.create_user(session, "valid.name", password, actor=ACTOR)


def test_create_list_reset_delete(secure):
    url = secure.settings.database_url
    with session_scope(url) as session:
        users.create_user(session, "ops@example.com", "first password", actor=ACTOR)
    with session_scope(url) as session, pytest.raises(Conflict):
        users.create_user(session, "ops@example.com", "another password", actor=ACTOR)
    with session_scope(url, write=False) as session:
        listed = [users.user_to_json(u) for u in users.list_users(session)]
    assert [u["username"] for u in listed] == ["auditor", "ops@example.com"]
    assert all(set(u) == {"id", "username", "created_at", "changed_at"} for u in listed)
    before = user_hash(url, "ops@example.com")
    with session_scope(url) as session:
        changed = users.reset_password(session, "ops@example.com", "second password", actor=ACTOR)
        assert changed.changed_at is not None
    assert user_hash(url, "ops@example.com") != before
    with session_scope(url) as session:
        users.delete_user(session, "ops@example.com", actor=ACTOR)
    with session_scope(url) as session, pytest.raises(NotFound):
        users.delete_user(session, "ops@example.com", actor=ACTOR)
    with session_scope(url) as session, pytest.raises(NotFound):
        users.reset_password(session, "nobody", "whatever password", actor=ACTOR)


def test_hashes_are_salted_argon2id(secure):
    url = secure.settings.database_url
    with session_scope(url) as session:
        users.create_user(session, "twin1", "same password twice", actor=ACTOR)
        users.create_user(session, "twin2", "same password twice", actor=ACTOR)
    first, second = user_hash(url, "twin1"), user_hash(url, "twin2")
    assert first.startswith("$argon2id$") and second.startswith("$argon2id$")
    assert first != second


def test_no_plaintext_password_in_any_table_or_log(cli_env, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    url = cli_env.settings.database_url
    secrets = ["Service-Password-1", "Cli-Password-22", "Reset-Password-333", "Prompted-Password-4444"]
    with session_scope(url) as session:
        users.create_user(session, "service", secrets[0], actor=ACTOR)
    assert run_cli("users", "create", "cli-user", "--password", secrets[1]).exit_code == 0
    assert run_cli("users", "reset-password", "cli-user", "--password", secrets[2]).exit_code == 0
    prompted = run_cli("users", "create", "prompted", input=f"{secrets[3]}\n{secrets[3]}\n")
    assert prompted.exit_code == 0, prompted.output
    # Use them over HTTP too, right and wrong, so request handling has had every chance to log them.
    assert cli_env.client.get(f"{BASE}/test", headers=basic("service", secrets[0])).status_code == 200
    assert cli_env.client.get(f"{BASE}/test", headers=basic("cli-user", secrets[2])).status_code == 200
    assert cli_env.client.get(f"{BASE}/test", headers=basic("prompted", secrets[3])).status_code == 200
    assert cli_env.client.get(f"{BASE}/test", headers=basic("service", secrets[1])).status_code == 401
    for secret in secrets:
        assert_nowhere_in_database(url, secret)
        assert secret not in caplog.text
    captured = capfd.readouterr()
    for secret in secrets:
        assert secret not in captured.out + captured.err
        assert secret not in prompted.output


def test_cli_random_password_is_shown_once_and_works(cli_env):
    result = run_cli("users", "create", "robot", "--random")
    assert result.exit_code == 0, result.output
    password = result.output.strip().splitlines()[-1]
    assert len(password) >= 32 and result.output.count(password) == 1
    assert cli_env.client.get(f"{BASE}/test", headers=basic("robot", password)).status_code == 200
    assert_nowhere_in_database(cli_env.settings.database_url, password)

    reset = run_cli("users", "reset-password", "robot", "--random")
    assert reset.exit_code == 0, reset.output
    new_password = reset.output.strip().splitlines()[-1]
    assert new_password != password
    assert cli_env.client.get(f"{BASE}/test", headers=basic("robot", password)).status_code == 401
    assert cli_env.client.get(f"{BASE}/test", headers=basic("robot", new_password)).status_code == 200


def test_cli_list_and_delete(cli_env):
    assert run_cli("users", "create", "temp", "--password", "temporary password").exit_code == 0
    listed = run_cli("users", "list", "--json")
    assert listed.exit_code == 0
    rows = orjson.loads(listed.output)
    assert [r["username"] for r in rows] == ["auditor", "temp"]
    assert "argon2" not in listed.output
    table = run_cli("users", "list")
    assert "temp" in table.output and "argon2" not in table.output
    assert run_cli("users", "delete", "temp").exit_code == 0
    assert [r["username"] for r in orjson.loads(run_cli("users", "list", "--json").output)] == ["auditor"]


@pytest.mark.parametrize(
    "args",
    [
        ["users", "create", "bad:name", "--password", "long enough password"],
        ["users", "create", "shorty", "--password", "short"],
        ["users", "create", "both", "--password", "long enough password", "--random"],
        ["users", "create", "auditor", "--password", "long enough password"],
        ["users", "delete", "nobody"],
        ["users", "reset-password", "nobody", "--password", "long enough password"],
    ],
    ids=["bad username", "short password", "both sources", "duplicate", "delete unknown", "reset unknown"],
)
def test_cli_refusals_exit_non_zero(cli_env, args):
    before = snapshot_tables(cli_env.settings.database_url)
    result = run_cli(*args)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert snapshot_tables(cli_env.settings.database_url) == before


def _only_default_user_removed(secure) -> None:
    with session_scope(secure.settings.database_url) as session:
        users.delete_user(session, "auditor", actor=ACTOR)


def test_ensure_admin_user_writes_a_0600_file_once(secure, monkeypatch):
    _only_default_user_removed(secure)
    created = []
    real_open = os.open

    def spying_open(path, flags, mode=0o777, *args, **kwargs):
        created.append((str(path), flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spying_open)
    old_umask = os.umask(0)  # the most permissive umask must not loosen the file's mode
    try:
        password = users.ensure_admin_user(secure.settings)
    finally:
        os.umask(old_umask)
    assert password
    path = secure.settings.home / "standalone_admin_password.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == password
    # Created exclusively with mode 0600 from the first moment, never chmod-ed down afterwards.
    assert created and all(mode == 0o600 and flags & os.O_CREAT and flags & os.O_EXCL for _, flags, mode in created)
    assert secure.client.get(f"{BASE}/test", headers=basic("admin", password)).status_code == 200
    assert_nowhere_in_database(secure.settings.database_url, password)

    assert users.ensure_admin_user(secure.settings) is None
    assert path.read_text().strip() == password


def test_ensure_admin_user_replaces_a_loose_old_file(secure):
    _only_default_user_removed(secure)
    path = secure.settings.home / "standalone_admin_password.txt"
    path.write_text("stale\n")
    path.chmod(0o644)
    password = users.ensure_admin_user(secure.settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == password
    assert [p.name for p in secure.settings.home.iterdir() if p.name.endswith(".tmp")] == []


def test_ensure_admin_user_does_nothing_when_a_user_exists(secure):
    assert users.ensure_admin_user(secure.settings) is None
    assert not (secure.settings.home / "standalone_admin_password.txt").exists()


def test_standalone_announces_the_admin_password_once(secure, capsys):
    from slipstream.cli.standalone import _announce_admin_password

    _only_default_user_removed(secure)
    _announce_admin_password(secure.settings)
    first = capsys.readouterr().out
    password = (secure.settings.home / "standalone_admin_password.txt").read_text().strip()
    assert password in first and "standalone_admin_password.txt" in " ".join(first.split())
    _announce_admin_password(secure.settings)
    assert password not in capsys.readouterr().out


def test_standalone_creates_no_admin_unless_basic_auth(make_app):
    from slipstream.cli.standalone import _announce_admin_password

    for backend in ("default", "deny_all"):
        app = make_app(backend)
        with session_scope(app.settings.database_url) as session:
            users.delete_user(session, "auditor", actor=ACTOR)
        _announce_admin_password(app.settings)
        assert not (app.settings.home / "standalone_admin_password.txt").exists()

"""`slipstream variables` and `slipstream connections`, through typer's CliRunner against a test database."""

from __future__ import annotations

import json
import stat

import pytest
from typer.testing import CliRunner

from slipstream.cli import app
from slipstream.services import audit
from slipstream.storage.db import session_scope


@pytest.fixture
def cli(settings, monkeypatch):
    monkeypatch.setenv("SLIPSTREAM_HOME", str(settings.home))
    monkeypatch.setenv("SLIPSTREAM_DATABASE_URL", settings.database_url)
    monkeypatch.delenv("SLIPSTREAM_FERNET_KEY", raising=False)
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    return invoke


def audit_entries(settings) -> list[tuple[str, str, dict | None]]:
    with session_scope(settings.database_url, write=False) as session:
        return [(e.event, e.target, e.extra) for e in reversed(audit.list_entries(session))]


class TestVariables:
    def test_set_get_list_delete(self, cli, settings):
        assert cli("variables", "set", "db_password", "hunter2", "--description", "the DB") == (
            "Variable db_password created\n"
        )
        assert cli("variables", "set", "db_password", "hunter3") == "Variable db_password updated\n"
        assert cli("variables", "get", "db_password") == "hunter3\n"
        listed = json.loads(cli("variables", "list", "--json"))
        assert listed == [{"key": "db_password", "description": None}]
        assert "hunter" not in cli("variables", "list")
        assert cli("variables", "delete", "db_password") == "Variable db_password deleted\n"
        assert "Variable db_password does not exist" in cli("variables", "get", "db_password", code=1)
        assert "Variable db_password does not exist" in cli("variables", "delete", "db_password", code=1)
        events = audit_entries(settings)
        assert [(e, t) for e, t, _ in events] == [
            ("variable.set", "db_password"),
            ("variable.set", "db_password"),
            ("variable.delete", "db_password"),
        ]
        assert "hunter" not in json.dumps(events)

    def test_json_values_defaults_and_the_environment(self, cli, monkeypatch):
        cli("variables", "set", "cfg", '{"a": [1, 2]}', "--json")
        assert json.loads(cli("variables", "get", "cfg", "--json")) == {"a": [1, 2]}
        assert cli("variables", "get", "missing", "--default", "fallback") == "fallback\n"
        monkeypatch.setenv("AIRFLOW_VAR_CFG", "from-env")
        assert cli("variables", "get", "cfg") == "from-env\n"
        assert "VALUE is not JSON" in cli("variables", "set", "x", "{nope", "--json", code=1)

    def test_import_and_export(self, cli, settings, tmp_path):
        source = tmp_path / "vars.json"
        source.write_text(json.dumps({"a": "1", "b": {"nested": True}, "c": {"value": "v", "description": "d"}}))
        assert cli("variables", "import", str(source)) == "3 of 3 variables successfully updated.\n"
        cli("variables", "set", "a", "changed")
        skipped = cli("variables", "import", str(source), "--action-on-existing-key", "skip")
        assert "0 of 3 variables successfully updated." in skipped and "a, b, c" in skipped
        assert "variable a already exists" in cli("variables", "import", str(source), "-a", "fail", code=1)
        target = tmp_path / "out.json"
        assert cli("variables", "export", str(target)) == f"3 variables successfully exported to {target}\n"
        assert json.loads(target.read_text()) == {"a": "changed", "b": {"nested": True}, "c": "v"}
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert "Missing variables file" in cli("variables", "import", str(tmp_path / "nope.json"), code=1)
        (tmp_path / "bad.json").write_text("[1]")
        assert "JSON object" in cli("variables", "import", str(tmp_path / "bad.json"), code=1)


class TestConnections:
    def test_add_by_uri_get_list_delete(self, cli, settings):
        added = cli("connections", "add", "pg", "--conn-uri", "postgresql://u:p%40ss@h:5432/db?a=b")
        assert added == "Successfully added `conn_id`=pg : postgres://u:***@h:5432/db?a=b\n"
        got = json.loads(cli("connections", "get", "pg", "--json"))
        assert got == {
            "conn_id": "pg",
            "conn_type": "postgres",
            "description": None,
            "host": "h",
            "login": "u",
            "password": "p@ss",
            "schema": "db",
            "port": 5432,
            "extra": {"a": "b"},
            "get_uri": "postgres://u:p%40ss@h:5432/db?a=b",
        }
        listed = cli("connections", "list", "--json")
        assert "p@ss" not in listed and "p%40ss" not in listed
        assert json.loads(listed)[0]["uri"] == "postgres://u:***@h:5432/db?a=b"
        assert "already exists" in cli("connections", "add", "pg", "--conn-uri", "http://h", code=1)
        assert cli("connections", "delete", "pg") == "Successfully deleted connection with `conn_id`=pg\n"
        assert "Did not find a connection with `conn_id`=pg" in cli("connections", "delete", "pg", code=1)
        assert "Connection not found" in cli("connections", "get", "pg", code=1)
        events = audit_entries(settings)
        assert [e for e, _, _ in events] == ["connection.add", "connection.delete"]
        assert "p@ss" not in json.dumps(events) and "p%40ss" not in json.dumps(events)
        assert events[0][2]["password_set"] is True

    def test_get_reads_the_environment_first(self, cli, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_FROM_ENV", "http://user:pw@env-host:81")
        got = json.loads(cli("connections", "get", "from_env", "--json"))
        assert (got["host"], got["port"], got["password"]) == ("env-host", 81, "pw")
        monkeypatch.setenv("AIRFLOW_CONN_BROKEN", "a://b://c://d")
        assert "AIRFLOW_CONN_BROKEN is not a valid connection" in cli("connections", "get", "broken", code=1)

    def test_add_by_json_and_by_fields(self, cli):
        cli("connections", "add", "j", "--conn-json", '{"conn_type": "http", "host": "x", "extra": {"k": "v"}}')
        assert json.loads(cli("connections", "get", "j", "--json"))["extra"] == {"k": "v"}
        cli(
            "connections", "add", "f", "--conn-type", "mysql", "--conn-host", "db", "--conn-port", "3306",
            "--conn-login", "me", "--conn-password", "pw", "--conn-description", "sales",
        )  # fmt: skip
        got = json.loads(cli("connections", "get", "f", "--json"))
        assert (got["port"], got["description"], got["get_uri"]) == (3306, "sales", "mysql://me:pw@db:3306")

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--conn-host", "h"], "Must supply either conn-uri or conn-json if not supplying conn-type"),
            (["--conn-type", "x", "--conn-port", "abc"], "Expected integer value for `port`, but got 'abc' instead."),
            (["--conn-uri", "a://b://c://d"], "Invalid connection string: a://b://c://d."),
            (["--conn-uri", "http://h", "--conn-host", "h"], "You can't mix these two ways"),
            (["--conn-json", "{not json"], "Invalid connection c"),
        ],
    )
    def test_bad_input_is_a_clear_error(self, cli, args, message):
        assert message in cli("connections", "add", "c", *args, code=1).replace("\n", "")

    def test_import_and_export(self, cli, tmp_path):
        source = tmp_path / "conns.json"
        source.write_text(
            json.dumps({"a": "postgres://u:pw@h:1/s", "b": {"conn_type": "http", "host": "x", "extra": {"k": 1}}})
        )
        assert cli("connections", "import", str(source)) == "2 of 2 connections successfully updated.\n"
        assert "Skipped (already existing): a, b" in cli("connections", "import", str(source))
        assert "2 of 2" in cli("connections", "import", str(source), "--overwrite")
        target = tmp_path / "out.json"
        cli("connections", "export", str(target))
        exported = json.loads(target.read_text())
        assert exported["a"]["password"] == "pw" and exported["b"]["extra"] == {"k": 1}
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        cli("connections", "export", str(target), "--serialization-format", "uri")
        assert json.loads(target.read_text())["a"] == "postgres://u:pw@h:1/s"


class TestFernetKeyAtStart:
    def test_db_upgrade_makes_the_key_file(self, cli, settings):
        path = settings.home / "fernet.key"
        assert not path.exists()
        cli("db", "upgrade")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_a_bad_configured_key_is_refused_at_start(self, cli, monkeypatch):
        monkeypatch.setenv("SLIPSTREAM_FERNET_KEY", "too-short")
        assert "The Fernet key in SLIPSTREAM_FERNET_KEY is not valid" in cli("db", "upgrade", code=2)
        assert "is not valid" in cli("variables", "list", code=1)

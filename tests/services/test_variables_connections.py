"""Variables and connections as stored: encrypted at rest, the key file, the sdk's lookup order and errors."""

from __future__ import annotations

import json
import stat

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from slipstream.errors import BadRequest, Conflict
from slipstream.sdk import metastore
from slipstream.sdk.connections import BaseHook, Connection
from slipstream.sdk.exceptions import AirflowNotFoundException
from slipstream.sdk.variables import Variable
from slipstream.services import connections, variables
from slipstream.storage.db import session_scope
from slipstream.storage.encryption import DecryptionError, FernetKeyError, cipher_for, key_file


@pytest.fixture
def sdk(settings, monkeypatch):
    """The sdk reads and writes the test database, as a task process bound to these settings does."""
    monkeypatch.setattr(metastore, "_settings", settings)
    monkeypatch.delenv("SLIPSTREAM_FERNET_KEY", raising=False)
    return settings


def raw(settings, sql: str) -> list[tuple]:
    with session_scope(settings.database_url, write=False) as session:
        return [tuple(row) for row in session.execute(text(sql))]


class TestEncryptionAtRest:
    def test_values_and_passwords_are_not_stored_in_clear(self, settings):
        cipher = cipher_for(settings)
        with session_scope(settings.database_url) as session:
            variables.set_variable(session, "plain_key", "visible-value-123", cipher)
            connection = Connection(
                conn_id="c", conn_type="http", host="h", login="me", password="pw-456", extra={"api_key": "k-789"}
            )
            connections.add_connection(session, connection, cipher)
        stored = raw(settings, "SELECT key, val FROM variable") + raw(
            settings, "SELECT password, extra FROM connection"
        )
        dump = json.dumps(stored)
        for secret in ("visible-value-123", "pw-456", "k-789"):
            assert secret not in dump
        assert stored[0][0] == "plain_key"  # keys stay searchable
        with session_scope(settings.database_url, write=False) as session:
            assert variables.get_variable(session, "plain_key", cipher).value == "visible-value-123"
            again = connections.get_connection(session, "c", cipher)
        assert (again.password, again.extra_dejson, again.login) == ("pw-456", {"api_key": "k-789"}, "me")

    def test_the_generated_key_file_is_private_and_reused(self, settings):
        cipher = cipher_for(settings)
        path = key_file(settings.home)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        token = cipher.encrypt("x")
        Fernet(path.read_text().strip().encode()).decrypt(token.encode())  # the file holds the key used

    def test_a_wrong_key_names_the_variable_and_the_connection(self, settings):
        with session_scope(settings.database_url) as session:
            variables.set_variable(session, "db_pass", "v", cipher_for(settings))
            connections.add_connection(
                session, Connection(conn_id="wh", conn_type="x", password="p"), cipher_for(settings)
            )
        other = cipher_for(settings.with_overrides(fernet_key=Fernet.generate_key().decode()))
        with session_scope(settings.database_url, write=False) as session:
            with pytest.raises(DecryptionError, match=r"Cannot decrypt variable 'db_pass'.*SLIPSTREAM_FERNET_KEY"):
                variables.get_variable(session, "db_pass", other)
            with pytest.raises(DecryptionError, match=r"Cannot decrypt connection 'wh'"):
                connections.get_connection(session, "wh", other)

    def test_rotation_old_key_listed_second_still_decrypts(self, settings):
        old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
        token = cipher_for(settings.with_overrides(fernet_key=old)).encrypt("s")
        rotated = cipher_for(settings.with_overrides(fernet_key=f"{new},{old}"))
        assert rotated.decrypt(token, what="variable 'x'") == "s"

    def test_a_key_that_is_not_a_fernet_key(self, settings):
        with pytest.raises(FernetKeyError, match="SLIPSTREAM_FERNET_KEY is not valid"):
            cipher_for(settings.with_overrides(fernet_key="not-a-key"))


class TestServices:
    def test_set_replaces_and_keys_are_checked(self, settings):
        cipher = cipher_for(settings)
        with session_scope(settings.database_url) as session:
            assert variables.set_variable(session, "k", "1", cipher, description="d") is False
            assert variables.set_variable(session, "k", "2", cipher) is True
            assert variables.get_variable(session, "k", cipher).value == "2"
            with pytest.raises(BadRequest, match="Variable key shouldn't be empty"):
                variables.set_variable(session, " ", "v", cipher)
            with pytest.raises(BadRequest, match="more than 250"):
                variables.set_variable(session, "k" * 251, "v", cipher)

    def test_import_and_export(self, settings):
        cipher = cipher_for(settings)
        with session_scope(settings.database_url) as session:
            variables.set_variable(session, "kept", "old", cipher)
            result = variables.import_variables(
                session,
                {"kept": "new", "obj": {"a": 1}, "described": {"value": "v", "description": "why"}},
                cipher,
                on_existing="skip",
            )
            assert result == {"created": ["obj", "described"], "updated": [], "skipped": ["kept"]}
            with pytest.raises(Conflict, match="variable kept already exists"):
                variables.import_variables(session, {"kept": "x"}, cipher, on_existing="fail")
            assert variables.export_variables(session, cipher) == {"described": "v", "kept": "old", "obj": {"a": 1}}

    def test_adding_a_connection_twice(self, settings):
        cipher = cipher_for(settings)
        with session_scope(settings.database_url) as session:
            connections.add_connection(session, Connection(conn_id="c", conn_type="x"), cipher)
            with pytest.raises(Conflict, match=r"A connection with `conn_id`=c already exists\."):
                connections.add_connection(session, Connection(conn_id="c", conn_type="y"), cipher)

    def test_deleting_a_dag_keeps_variables_and_connections(self, settings):
        from slipstream.services.dag_deletion import delete_dag
        from slipstream.storage.models import DagModel

        cipher = cipher_for(settings)
        with session_scope(settings.database_url) as session:
            session.add(DagModel(dag_id="d", fileloc=""))
            variables.set_variable(session, "d", "v", cipher)
            connections.add_connection(session, Connection(conn_id="d", conn_type="x"), cipher)
        with session_scope(settings.database_url) as session:
            delete_dag(session, "d")
        with session_scope(settings.database_url, write=False) as session:
            assert variables.get_variable(session, "d", cipher).value == "v"
            assert connections.get_connection(session, "d", cipher).conn_type == "x"

    def test_parse_connection_refuses_mixed_forms_and_bad_ports(self):
        with pytest.raises(BadRequest, match="You can't mix"):
            connections.parse_connection("c", uri="http://h", host="x")
        with pytest.raises(BadRequest, match="Expected integer value for `port`, but got 'x' instead"):
            connections.parse_connection("c", conn_type="http", port="x")
        with pytest.raises(BadRequest, match="Invalid conn_id"):
            connections.parse_connection("bad id", uri="http://h")


class TestVariableSdk:
    def test_missing_is_a_key_error_with_airflows_text(self, sdk):
        with pytest.raises(KeyError) as caught:
            Variable.get("nope")
        assert caught.value.args == ("Variable nope does not exist",)
        assert Variable.get("nope", default_var=None) is None
        assert Variable.get("nope", "d") == "d"

    def test_environment_first_then_database(self, sdk, monkeypatch):
        Variable.set("region", "from-db")
        assert Variable.get("region") == "from-db"
        monkeypatch.setenv("AIRFLOW_VAR_REGION", "from-env")
        assert Variable.get("region") == "from-env"

    def test_json_both_ways(self, sdk):
        Variable.set("cfg", {"a": [1, 2]}, serialize_json=True, description="config")
        with session_scope(sdk.database_url, write=False) as session:
            stored = variables.get_variable(session, "cfg", cipher_for(sdk))
        assert stored.value == json.dumps({"a": [1, 2]}, indent=2)
        assert stored.description == "config"
        assert Variable.get("cfg", deserialize_json=True) == {"a": [1, 2]}
        Variable.set("n", 5)
        assert Variable.get("n") == "5"

    def test_update_and_delete(self, sdk, monkeypatch):
        Variable.set("k", "1", description="keep me")
        Variable.update("k", {"x": 1}, serialize_json=True)
        assert Variable.get("k", deserialize_json=True) == {"x": 1}
        with pytest.raises(KeyError, match="Variable absent does not exist"):
            Variable.update("absent", "v")
        monkeypatch.setenv("AIRFLOW_VAR_ONLY_ENV", "e")
        with pytest.raises(AttributeError, match=r"^Variable only_env does not exist in the Database and cannot"):
            Variable.update("only_env", "v")
        assert Variable.delete("k") == 1
        assert Variable.delete("k") == 0


class TestConnectionSdk:
    def test_not_found(self, sdk):
        with pytest.raises(AirflowNotFoundException, match=r"^The conn_id `nope` isn't defined$"):
            BaseHook.get_connection("nope")

    def test_environment_uri_or_json_first_then_database(self, sdk, monkeypatch):
        with session_scope(sdk.database_url) as session:
            connections.add_connection(
                session, Connection(conn_id="wh", conn_type="postgres", host="db"), cipher_for(sdk)
            )
        assert BaseHook.get_connection("wh").host == "db"
        monkeypatch.setenv("AIRFLOW_CONN_WH", "postgresql://u:p@env-host:1/s")
        found = BaseHook.get_connection("wh")
        assert (found.conn_id, found.conn_type, found.host, found.port) == ("wh", "postgres", "env-host", 1)
        monkeypatch.setenv("AIRFLOW_CONN_WH", '{"conn_type": "http", "host": "json-host", "extra": {"a": 1}}')
        found = BaseHook.get_connection("wh")
        assert (found.conn_type, found.host, found.extra_dejson) == ("http", "json-host", {"a": 1})

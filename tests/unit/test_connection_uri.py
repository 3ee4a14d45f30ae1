"""Connection's URI and JSON forms, as Airflow 2.10 parses and writes them (task-model-semantics §8)."""

from __future__ import annotations

import json

import pytest

from slipstream.sdk.connections import Connection
from slipstream.sdk.exceptions import AirflowException


def fields(connection: Connection) -> dict:
    names = ("conn_id", "conn_type", "host", "login", "password", "schema", "port", "extra")
    return {name: getattr(connection, name) for name in names}


class TestUriParsing:
    def test_every_part(self):
        connection = Connection(conn_id="pg", uri="postgresql://u:p%40ss@h:5432/db?a=b")
        assert fields(connection) == {
            "conn_id": "pg",
            "conn_type": "postgres",
            "host": "h",
            "login": "u",
            "password": "p@ss",
            "schema": "db",
            "port": 5432,
            "extra": '{"a": "b"}',
        }
        assert connection.extra_dejson == {"a": "b"}

    def test_dashes_in_the_type_become_underscores(self):
        assert Connection(uri="google-cloud-platform://h").conn_type == "google_cloud_platform"

    def test_a_protocol_in_the_host_is_kept(self):
        connection = Connection(uri="http://https://example.com:8443/api")
        assert (connection.conn_type, connection.host, connection.port, connection.schema) == (
            "http",
            "https://example.com",
            8443,
            "api",
        )

    def test_extra_key_supplies_the_raw_extra(self):
        raw = json.dumps({"nested": {"a": [1, 2]}})
        connection = Connection(uri=f"aws://?__extra__={raw}")
        assert connection.extra == raw
        assert connection.extra_dejson == {"nested": {"a": [1, 2]}}

    def test_query_values_stay_strings_and_blank_values_are_kept(self):
        assert Connection(uri="x://h?a=1&b=").extra_dejson == {"a": "1", "b": ""}

    def test_quoted_parts_are_unquoted(self):
        connection = Connection(uri="mysql://us%3Aer:p%2Fw%20d@host/my%2Fdb")
        assert (connection.login, connection.password, connection.schema) == ("us:er", "p/w d", "my/db")

    def test_nothing_but_a_type(self):
        connection = Connection(uri="sqlite://")
        assert (connection.conn_type, connection.host, connection.login, connection.port) == ("sqlite", "", None, None)

    def test_more_than_two_schemes_is_invalid(self):
        with pytest.raises(AirflowException, match=r"^Invalid connection string: a://b://c://d\.$"):
            Connection(uri="a://b://c://d")

    def test_a_port_that_is_not_a_number_is_an_error(self):
        with pytest.raises(ValueError, match="abc"):
            Connection(uri="postgres://h:abc/db")

    def test_uri_and_fields_cannot_be_mixed(self):
        with pytest.raises(AirflowException, match="You can't mix these two ways to create this object."):
            Connection(uri="postgres://h", host="other")


class TestGetUri:
    @pytest.mark.parametrize(
        "uri",
        [
            "postgres://u:p%40ss@h:5432/db?a=b",
            "mysql://user:pw@db.example.com:3306/sales",
            "http://https://example.com:8443/api",
            "google-cloud-platform:///?key_path=%2Fkeys%2Fk.json",
            "aws://h/?__extra__=%7B%22nested%22%3A+%7B%22a%22%3A+1%7D%7D",
        ],
    )
    def test_round_trip(self, uri):
        assert Connection(uri=uri).get_uri() == uri

    def test_login_and_password_are_fully_quoted(self):
        connection = Connection(conn_type="postgres", host="h", login="a@b", password="p:w/@ #", port=5432)
        assert connection.get_uri() == "postgres://a%40b:p%3Aw%2F%40%20%23@h:5432"
        assert Connection(uri=connection.get_uri()).password == "p:w/@ #"

    def test_no_schema_gives_slash_question_mark(self):
        connection = Connection(conn_type="http", host="h", extra={"timeout": "5"})
        assert connection.get_uri() == "http://h/?timeout=5"

    def test_underscores_in_the_type_become_dashes(self):
        assert Connection(conn_type="google_cloud_platform").get_uri() == "google-cloud-platform://"

    def test_a_port_without_host_or_login(self):
        assert Connection(conn_type="redis", port=6379).get_uri() == "redis://@:6379"

    def test_a_nested_extra_goes_in_extra_key(self):
        connection = Connection(conn_type="x", host="h", schema="s", extra={"a": {"b": 1}})
        assert Connection(uri=connection.get_uri()).extra_dejson == {"a": {"b": 1}}


class TestJsonForm:
    def test_fields_extra_as_object_and_type_normalized(self):
        connection = Connection.from_json(
            '{"conn_type": "postgresql", "host": "h", "port": "5432", "extra": {"sslmode": "require"}}', conn_id="j"
        )
        assert fields(connection) == {
            "conn_id": "j",
            "conn_type": "postgres",
            "host": "h",
            "login": None,
            "password": None,
            "schema": None,
            "port": 5432,
            "extra": '{"sslmode": "require"}',
        }

    def test_a_bad_port(self):
        with pytest.raises(ValueError, match=r"^Expected integer value for `port`, but got 'abc' instead\.$"):
            Connection.from_json('{"conn_type": "x", "port": "abc"}')

    def test_as_json_reads_back(self):
        connection = Connection(conn_type="http", host="h", password="pw", extra={"k": "v"}, description="d")
        again = Connection.from_json(connection.as_json(), conn_id="c")
        assert fields(again) == {**fields(connection), "conn_id": "c"}
        assert again.description == "d"


class TestIdsAndRepr:
    def test_an_invalid_conn_id_becomes_none(self):
        assert Connection(conn_id="bad id with spaces", conn_type="x").conn_id is None
        assert Connection(conn_id="x" * 251, conn_type="x").conn_id is None
        assert Connection(conn_id="ok-id_1.a:b/c", conn_type="x").conn_id == "ok-id_1.a:b/c"

    def test_repr_is_the_conn_id_not_the_password(self):
        connection = Connection(conn_id="c", conn_type="x", password="secret")
        assert repr(connection) == str(connection) == "c"

    def test_extra_that_is_not_json_reads_as_empty(self):
        assert Connection(conn_type="x", extra="not json").extra_dejson == {}

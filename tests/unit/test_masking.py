"""The secrets masker: which values are masked, and the stream that masks what a task process writes."""

from __future__ import annotations

import io

import pytest

from slipstream.scheduler import masking
from slipstream.scheduler.masking import MaskingStream, mask_secret, redact
from slipstream.sdk.connections import Connection


@pytest.fixture(autouse=True)
def fresh_masker():
    masking.forget_all()
    yield
    masking.forget_all()


def test_nothing_registered_leaves_text_alone():
    assert redact("password hunter2") == "password hunter2"


def test_a_secret_without_a_name_is_always_masked_raw_and_url_quoted():
    mask_secret("p@ss word")
    assert redact("a p@ss word b") == "a *** b"
    assert redact("postgres://u:p%40ss%20word@h") == "postgres://u:***@h"


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("my_password", True),
        ("API_KEY", True),
        ("github_token", True),
        ("client_secret", True),
        ("gcp_keyfile_dict", True),
        ("my_value", False),
        ("region", False),
    ],
)
def test_a_named_value_is_masked_only_when_its_key_is_sensitive(key, masked):
    mask_secret("the-value-42", key)
    assert (redact("x the-value-42 y") == "x *** y") is masked


def test_a_dict_is_masked_by_its_own_keys():
    mask_secret({"api_key": "k-123", "region": "eu-west-1", "nested": {"password": "pw-9"}}, "extra")
    assert redact("k-123 eu-west-1 pw-9") == "*** eu-west-1 ***"


def test_the_longer_of_two_overlapping_secrets_is_masked_whole():
    mask_secret("abc")
    mask_secret("abcdef")
    assert redact("abcdef abc") == "*** ***"


def test_structures_are_redacted_inside():
    mask_secret("s3cr3t")
    assert redact({"cmd": ["echo s3cr3t", 1], "t": ("s3cr3t",)}) == {"cmd": ["echo ***", 1], "t": ("***",)}


def test_a_connection_fetched_masks_its_password_and_sensitive_extras(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WH", "postgres://u:pw-0987@h/db?api_key=ak-555&region=north")
    connection = Connection.get_connection_from_secrets("wh")
    line = f"{connection.get_uri()} {connection.password} {connection.extra_dejson}"
    assert "pw-0987" not in redact(line) and "ak-555" not in redact(line)
    assert "north" in redact(line)


class TestMaskingStream:
    def test_lines_are_masked_even_when_written_in_pieces(self):
        target = io.StringIO()
        stream = MaskingStream(target)
        mask_secret("hunter2")
        stream.write("pass hun")
        stream.write("ter2 end\nnext ")
        assert target.getvalue() == "pass *** end\n"
        stream.write("hunter2")
        stream.flush()
        assert target.getvalue() == "pass *** end\nnext ***"

    def test_print_goes_through(self):
        target = io.StringIO()
        stream = MaskingStream(target)
        mask_secret("tok-1")
        print("token", "tok-1", file=stream, flush=True)
        assert target.getvalue() == "token ***\n"

    def test_other_attributes_are_the_wrapped_streams(self):
        target = io.StringIO()
        assert MaskingStream(target).getvalue is not None


def test_values_under_sensitive_keys_are_masked_whole_in_structures():
    rendered = {"op_kwargs": {"password": "pw", "n": {"api_key": [1, "a"]}, "flag": True, "ok": "v"}}
    assert redact(rendered) == {
        "op_kwargs": {"password": "***", "n": {"api_key": ["***", "***"]}, "flag": True, "ok": "v"}
    }


def test_a_task_process_masks_the_fernet_key_and_the_database_url(settings, monkeypatch):
    from slipstream.sdk import metastore

    monkeypatch.setattr(metastore, "_settings", None)
    monkeypatch.setattr(metastore, "_inherited_pid", None)
    bound = settings.with_overrides(
        fernet_key="k1-abcdef,k2-ghijkl",
        database_url="postgresql://u:dbpw-77@h/db",
        sensitive_var_conn_names="pin, Dsn",
    )
    metastore.bind_task_process(bound)
    monkeypatch.setattr(metastore, "_inherited_pid", None)  # nothing inherited to drop in this test process
    assert redact("k1-abcdef k2-ghijkl postgresql://u:dbpw-77@h/db") == "*** *** ***"
    mask_secret("1234", "card_pin")
    mask_secret("sentry://x", "SENTRY_DSN")
    mask_secret("visible", "region")
    assert redact("1234 sentry://x visible") == "*** *** visible"

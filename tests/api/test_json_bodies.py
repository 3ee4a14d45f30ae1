"""A request body is parsed once: the handler gets the document JsonBodyCheckMiddleware read, which is
the one the body validator checked, and exactly what json.loads reads from the body."""

from __future__ import annotations

import json

import pytest
from starlette.requests import Request

import slipstream.api.connexion_cache
from tests.api.support import BASE, BASH_DAG, assert_error, assert_json, read_run, trigger, trigger_body


@pytest.fixture
def no_second_parse(monkeypatch):
    """Any later parse of a body fails the request: the validator's and the parameter decorator's."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("the body was parsed again")

    monkeypatch.setattr(slipstream.api.connexion_cache, "loads_like_json_module", refuse)
    monkeypatch.setattr(Request, "json", refuse)


def test_a_trigger_reads_its_body_once(client, app_settings, no_second_parse):
    content = (
        b'{"run_id": "once", "execution_date": "2022-01-01T00:00:00+00:00",'
        b' "conf": {"big": 18446744073709551616, "t": "\\u00e9"}}'
    )
    response = trigger(client, content=content)
    assert_json(response, 200, trigger_body(app_settings, "once", "2022-01-01T00:00:00+00:00"))
    conf = read_run(app_settings, BASH_DAG, "once").conf
    assert json.dumps(conf) == json.dumps(json.loads(content)["conf"])  # 2**64 an int, as json.loads reads it


def test_a_pool_is_created_from_its_body_read_once(client, no_second_parse):
    response = client.post(f"{BASE}/pools", json={"name": "once", "slots": 3, "description": "d"})
    assert response.status_code == 200, response.text
    assert response.json()["pool"] == "once"


def test_a_body_the_schema_refuses_is_still_refused(client, no_second_parse):
    response = trigger(client, body=["not", "an", "object"])
    assert_error(response, 400, "['not', 'an', 'object'] is not of type 'object'")


def test_an_empty_body_still_meets_the_validator(client):
    """No document to hand on: the validator reads the (empty) body itself and answers as before."""
    response = client.post(f"{BASE}/pools", content=b"")
    assert_error(response, 400, "RequestBody is required")

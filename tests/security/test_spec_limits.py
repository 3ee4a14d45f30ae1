"""Limits the spec itself states: bounded string parameters and the error responses they lead to."""

from __future__ import annotations

import time

import pytest

from slipstream.api.app import load_spec
from slipstream.config import Settings
from tests.security.conftest import GOOD
from tests.security.support import HTTP_METHODS, _resolve, assert_problem

SPEC = load_spec()
# Bounded by the date parser instead (over 64 characters is never a date): the contract wants Airflow's
# own "could not be identified as a date" message for absurdly long input, not a validator's.
PARSER_BOUNDED = {"execution_date"}


def operations():
    for path, item in SPEC["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                parameters = [
                    _resolve(SPEC, p) for p in [*item.get("parameters", []), *item[method].get("parameters", [])]
                ]
                yield f"{method.upper()} {path}", item[method], parameters


OPERATIONS = list(operations())
IDS = [label for label, _, _ in OPERATIONS]


@pytest.mark.parametrize(("label", "operation", "parameters"), OPERATIONS, ids=IDS)
def test_every_string_parameter_is_bounded(label, operation, parameters):
    for parameter in parameters:
        schema = _resolve(SPEC, parameter["schema"])
        if schema.get("type") != "string" or parameter["name"] in PARSER_BOUNDED:
            continue
        bounded = "maxLength" in schema or "enum" in schema or str(schema.get("pattern", "")).endswith("$")
        assert bounded, f"{label}: parameter {parameter['name']} has no maxLength"


@pytest.mark.parametrize(("label", "operation", "parameters"), OPERATIONS, ids=IDS)
def test_every_operation_documents_its_refusals(label, operation, parameters):
    responses = operation["responses"]
    assert {"401", "403"} <= set(responses), label
    if any(p["in"] in ("path", "query") for p in parameters):
        assert "400" in responses, f"{label} has bounded parameters but no documented 400"
    if "requestBody" in operation:
        assert {"400", "413"} <= set(responses), label


def test_documented_body_limit_is_the_default():
    assert "1 MiB" in SPEC["info"]["description"]
    assert Settings().max_body_bytes == 1024 * 1024


def test_overlong_execution_date_is_refused_quickly(module_apps):
    client = module_apps["basic_auth"].client
    started = time.monotonic()
    response = client.get(f"/api/experimental/dags/example_bash_operator/dag_runs/{'1' * 10_000}", headers=GOOD)
    assert_problem(response, 400)
    assert response.json()["error"].startswith("Given execution date, 111")
    assert time.monotonic() - started < 2

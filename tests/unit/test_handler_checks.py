"""`x-handler-checks`: the spec types a field for generators and fuzzers, and the request validator
leaves the listed keywords to the handler, whose checks run in Airflow's order with Airflow's messages."""

from __future__ import annotations

from jsonschema import Draft4Validator

from slipstream.api.app import load_spec
from slipstream.api.connexion_cache import HANDLER_CHECKS, without_handler_checks

SCHEMAS = load_spec()["components"]["schemas"]


def test_the_listed_keywords_go_at_any_depth_and_the_rest_stays():
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "minimum": 0, HANDLER_CHECKS: ["type", "minimum"], "description": "kept"},
            "b": {"type": "array", "items": {"type": "string", "pattern": "^x", HANDLER_CHECKS: ["pattern"]}},
            "c": {"oneOf": [{"type": "string", "maxLength": 2, HANDLER_CHECKS: ["maxLength"]}], "minLength": 1},
        },
        "additionalProperties": {"type": "string", "enum": ["e"], HANDLER_CHECKS: ["enum"]},
    }

    assert without_handler_checks(schema) == {
        "type": "object",
        "properties": {
            "a": {HANDLER_CHECKS: ["type", "minimum"], "description": "kept"},
            "b": {"type": "array", "items": {"type": "string", HANDLER_CHECKS: ["pattern"]}},
            "c": {"oneOf": [{"type": "string", HANDLER_CHECKS: ["maxLength"]}], "minLength": 1},
        },
        "additionalProperties": {"type": "string", HANDLER_CHECKS: ["enum"]},
    }
    assert schema["properties"]["a"]["minimum"] == 0  # the spec itself is left as it is


def test_a_parameter_schema_is_followed():
    parameter = {"name": "p", "in": "path", "schema": {"type": "string", "pattern": "^a$", HANDLER_CHECKS: ["pattern"]}}

    assert without_handler_checks(parameter)["schema"] == {"type": "string", HANDLER_CHECKS: ["pattern"]}


def test_what_the_spec_types_for_generators_reaches_the_handler():
    # Each of these breaks the spec's types, and each gets the handler's (Airflow's) message instead.
    trigger = Draft4Validator(without_handler_checks(SCHEMAS["TriggerRequest"]))
    pool = Draft4Validator(without_handler_checks(SCHEMAS["PoolInput"]))

    as_typed = Draft4Validator({**SCHEMAS["TriggerRequest"], "components": {"schemas": SCHEMAS}})
    assert not as_typed.is_valid({"conf": 42})
    assert not as_typed.is_valid({"replace_microseconds": 1})
    assert trigger.is_valid({"conf": 42, "execution_date": "bad", "replace_microseconds": 1, "run_id": 5})
    assert pool.is_valid({"name": " ", "slots": "x", "description": "a\\x00b"})
    assert pool.is_valid({"name": "n" * 300, "slots": 2**40})


def test_what_the_handler_does_not_check_is_still_validated():
    pool = Draft4Validator(without_handler_checks(SCHEMAS["PoolInput"]))

    assert not pool.is_valid({"name": 5, "slots": 1})  # `name` must be a string
    assert not pool.is_valid({"name": "p"})  # `slots` is required
    assert not pool.is_valid({"name": "p", "slots": 1, "unknown": 1})  # no other keys

"""Request bodies are validated against their schema with annotation-only properties left out:
the same verdict and the same first message as against the schema itself. (What a schema leaves to
the handler under `x-handler-checks` is left out first, as at run time: tests/unit/test_handler_checks.py.)"""

from __future__ import annotations

import warnings

import pytest
from jsonschema import Draft4Validator

from slipstream.api.app import load_spec

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from connexion.json_schema import Draft4RequestValidator

from slipstream.api.connexion_cache import without_handler_checks, without_inert_properties

COMPONENTS = load_spec()["components"]["schemas"]
SCHEMAS = {
    "TriggerRequest": without_handler_checks(COMPONENTS["TriggerRequest"]),
    "PoolInput": without_handler_checks(COMPONENTS["PoolInput"]),
    "nested": {
        "type": "object",
        "required": ["inner"],
        "properties": {
            "inner": {
                "type": "object",
                "properties": {"note": {"description": "anything"}, "n": {"type": "integer", "nullable": True}},
            },
            "listed": {"type": "array", "items": {"type": "object", "properties": {"x": {"example": 1}}}},
            "either": {"anyOf": [{"type": "string"}, {"type": "object", "properties": {"y": {"title": "y"}}}]},
        },
    },
    "closed": {"type": "object", "additionalProperties": False, "properties": {"a": {"description": "a"}}},
    "patterned": {"type": "object", "patternProperties": {"^x": {"type": "string"}}, "properties": {"x1": {}}},
}
INSTANCES = [
    None,
    1,
    "text",
    [],
    {},
    {"run_id": None, "conf": {"a": 1}, "execution_date": "x", "replace_microseconds": "yes"},
    {"run_id": 5},
    {"name": "p", "slots": 3},
    {"name": 3, "slots": "x", "extra": 1},
    {"name": None, "slots": None},
    {"inner": {"note": 1, "n": None}},
    {"inner": {"n": "nine"}},
    {"inner": 1},
    {"listed": [{"x": "anything"}, 3]},
    {"either": {"y": [1]}},
    {"either": 4},
    {"a": 1},
    {"a": 1, "b": 2},
    {"x1": 3},
    {"x2": 3},
    {"x1": "s"},
]


def _first_message(validator, instance) -> str | None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: (list(e.path), e.message))
    return errors[0].message if errors else None


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_instance_gets_the_same_verdict_and_message(name):
    schema = SCHEMAS[name]
    full = Draft4RequestValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    slim = Draft4RequestValidator(without_inert_properties(schema), format_checker=Draft4Validator.FORMAT_CHECKER)
    for instance in INSTANCES:
        assert full.is_valid(instance) == slim.is_valid(instance), instance
        assert _first_message(full, instance) == _first_message(slim, instance), instance
        try:
            full.validate(instance)
        except Exception as error:  # noqa: BLE001 - the message Connexion would show must match
            with pytest.raises(type(error)) as slim_error:
                slim.validate(instance)
            assert (slim_error.value.message, list(slim_error.value.path)) == (error.message, list(error.path))


def test_the_trigger_body_schema_keeps_only_its_type():
    assert without_inert_properties(SCHEMAS["TriggerRequest"]) == {
        "type": "object",
        "description": SCHEMAS["TriggerRequest"]["description"],
    }


def test_properties_that_additional_properties_depends_on_are_kept():
    assert without_inert_properties(SCHEMAS["closed"]) == SCHEMAS["closed"]
    assert without_inert_properties(SCHEMAS["patterned"]) == SCHEMAS["patterned"]


def test_the_body_validator_lookup_remembers_what_connexion_would_match():
    """Media types, ranges and misses answer as Connexion's MediaTypeDict does, first time and later."""
    from connexion.datastructures import MediaTypeDict

    from slipstream.api.connexion_cache import _RememberingMediaTypeDict

    entries = {"application/json": "json", "application/*+json": "plus-json", "text/*": "text", "*/*": "any"}
    narrow = {"application/json": "json"}

    def answer(mapping, media_type):
        try:
            return mapping[media_type]
        except KeyError:
            return KeyError

    pairs = [(_RememberingMediaTypeDict(e), MediaTypeDict(e)) for e in (entries, narrow)]
    for _ in range(2):
        for media_type in ["application/json", "application/problem+json", "text/plain", "image/png", "x"]:
            for ours, connexions in pairs:
                assert answer(ours, media_type) == answer(connexions, media_type)
                assert (media_type in ours) == (media_type in connexions)
    assert answer(pairs[1][0], "text/plain") is KeyError

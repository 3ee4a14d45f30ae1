"""A bounded Schemathesis slice with basic_auth on (the deep run is `make fuzz`): every check,
ignored_auth included, all phases, a fixed seed."""

from __future__ import annotations

import schemathesis

from bench.fuzz import run_engine, schemathesis_config
from slipstream.api.app import BASE_PATH, load_spec
from tests.security.conftest import PASSWORD, USERNAME

SEED = 20261126


def test_bounded_slice_with_basic_auth_finds_nothing(make_app):
    app = make_app("basic_auth")
    config = schemathesis_config(username=USERNAME, password=PASSWORD, seed=SEED, max_examples=8)
    schema = schemathesis.openapi.from_asgi(f"{BASE_PATH}/openapi.json", app.client.app, config=config)
    report = run_engine(schema)
    assert report.ok, report.summary()
    assert report.stop_reason == "completed", report.summary()
    operations = sum(len(item) for item in load_spec()["paths"].values())
    assert report.cases >= 10 * operations, report.summary()
    assert report.checks_by_name["ignored_auth"] >= operations, report.summary()
    assert report.checks_by_name["negative_data_rejection"] > 0, report.summary()


def test_ignored_auth_catches_an_api_that_does_not_enforce_its_scheme(make_app):
    """The same check against an open server whose spec still claims basicAuth: it must fail."""
    app = make_app("default")
    config = schemathesis_config(username=USERNAME, password=PASSWORD, seed=SEED, max_examples=2, phases=("examples",))
    schema = schemathesis.openapi.from_dict(load_spec(), config=config).include(path_regex="^/(test|pools)$")
    schema.app = app.client.app
    schema.location = f"{BASE_PATH}/openapi.json"
    report = run_engine(schema)
    assert {check for (_, check, _) in report.failures} == {"ignored_auth"}, report.summary()

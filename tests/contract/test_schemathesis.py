"""Schemathesis 4 against the in-process ASGI app: every operation of both contracts (/api/experimental and
/api/v1), positive and negative data, then the spec's links as a state machine.

The schema is the one the app serves (auth backend `default`, so no security requirement). Values are
drawn from the spec, and half of the time from dictionaries of things that exist (example DAGs, their
tasks, seeded run dates, pools), so that the 2xx paths are exercised and not only the 404s.

Deterministic: a fixed seed, derandomized Hypothesis, no example database, a bounded number of
examples per operation.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ensure_resource_availability,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
    use_after_free,
)

from slipstream.api.app import V1_SPEC_PATH, create_app, load_spec
from tests.api.support import BASE, api_settings, drop_database
from tests.contract.conftest import DISPOSABLE_DAG_IDS, EXAMPLE_DAG_IDS, SEED_RUNS, fresh_app, restore_example_dags

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    unsupported_method,
    allow_header_conformance,
]
# Sequences of calls add the checks that need history: a deleted pool is gone, a created one is there.
STATEFUL_CHECKS = [*CHECKS, use_after_free, ensure_resource_availability]

DICTIONARIES = {
    "dag_ids": {"values": ["example_bash_operator", "example_pool", "example_python_operator"]},
    "task_ids": {"values": ["runme_0", "also_run_this", "run_this_last", "sleep_in_pool_0", "print_the_context"]},
    "dates": {
        "values": [
            "2030-03-04T05:06:07.123456+00:00",
            "2030-03-04T07:06:07.123456+02:00",
            "2022-01-01T00:00:00+00:00",
            "2022-01-01",
            "2016-11-16T11:34:15",
        ]
    },
    "pools": {"values": ["default_pool", "example_single_slot_pool", "experimental_1"]},
    "disposable_dag_ids": {"values": DISPOSABLE_DAG_IDS},
}
CONFIG = {
    "seed": 20251126,
    "generation": {
        "mode": "all",
        "max-examples": 50,
        "deterministic": True,
        "database": "none",
        "no-shrink": True,
    },
    "dictionaries": DICTIONARIES,
    "parameters": {
        "path.dag_id": {"dictionary": "dag_ids", "probability": 0.5},
        "path.task_id": {"dictionary": "task_ids", "probability": 0.5},
        "path.execution_date": {"dictionary": "dates", "probability": 0.5},
        "path.name": {"dictionary": "pools", "probability": 0.5},
        "body.name": {"dictionary": "pools", "probability": 0.3},
        "body.execution_date": {"dictionary": "dates", "probability": 0.3},
    },
    "operations": [
        {
            # Deletes draw from bare DAG rows seeded for them, so the example DAGs survive for the others.
            "include-path-regex": "^/dags/\\{dag_id\\}(/delete_dag)?$",
            "include-method": "DELETE",
            "parameters": {"path.dag_id": {"dictionary": "disposable_dag_ids", "probability": 0.5}},
        }
    ],
}

# Loading the schema needs only the app's spec route, which touches no database.
schema = schemathesis.openapi.from_asgi(
    f"{BASE}/openapi.json",
    create_app(api_settings(Path(tempfile.gettempdir()) / "slipstream-spec-only")),
    config=schemathesis.Config.from_dict(CONFIG),
)


# /api/v1: the same checks and bounds. Values come from the same seeded database: the example DAGs, the
# run ids the seed created, their tasks; deletes draw from the disposable DAG rows.
V1_CONFIG = {
    **CONFIG,
    # Four times the experimental API's operations: fewer examples each keeps `make test` in bounds.
    "generation": {**CONFIG["generation"], "max-examples": 25},
    "dictionaries": {
        **DICTIONARIES,
        "dag_run_ids": {"values": [run["run_id"] for run in SEED_RUNS]},
    },
    "parameters": {
        "path.dag_id": {"dictionary": "dag_ids", "probability": 0.5},
        "path.dag_run_id": {"dictionary": "dag_run_ids", "probability": 0.5},
        "path.task_id": {"dictionary": "task_ids", "probability": 0.5},
        "path.pool_name": {"dictionary": "pools", "probability": 0.5},
    },
    "operations": [
        {
            "include-path-regex": "^/dags/\\{dag_id\\}$",
            "include-method": "DELETE",
            "parameters": {"path.dag_id": {"dictionary": "disposable_dag_ids", "probability": 0.5}},
        }
    ],
}
v1_schema = schemathesis.openapi.from_asgi(
    "/api/v1/openapi.json",
    create_app(api_settings(Path(tempfile.gettempdir()) / "slipstream-spec-only")),
    config=schemathesis.Config.from_dict(V1_CONFIG),
)


def deleted_an_example_dag(case, response) -> bool:
    return (
        case.operation.method.upper() == "DELETE"
        and case.path.startswith("/dags/")
        and response.status_code in (200, 204)  # the experimental API answers 200, /api/v1 204
        and case.path_parameters.get("dag_id") in EXAMPLE_DAG_IDS
    )


@schema.parametrize()
def test_every_operation(case, contract_app, contract_settings):
    response = case.call_and_validate(app=contract_app, checks=CHECKS)
    if deleted_an_example_dag(case, response):
        # Keep the example DAGs for the operations that come next (the file stays, as in production).
        restore_example_dags(contract_app, contract_settings)


@v1_schema.parametrize()
def test_every_v1_operation(case, contract_app, contract_settings):
    response = case.call_and_validate(app=contract_app, checks=CHECKS)
    if deleted_an_example_dag(case, response):
        restore_example_dags(contract_app, contract_settings)


def run_links(state_machine, contract_template_database, postgres_databases, tmp_path_factory) -> None:
    class Workflow(state_machine):
        def setup(self):
            home = tmp_path_factory.mktemp("links")
            self.app, self.settings = fresh_app(contract_template_database, home, postgres_databases)

        def teardown(self):
            drop_database(self.settings.database_url, postgres_databases)

        def get_call_kwargs(self, case):
            return {"app": self.app}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=STATEFUL_CHECKS, transport_kwargs=kwargs)

    Workflow.run(
        settings=hypothesis.settings(
            max_examples=40,
            stateful_step_count=6,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )


def test_links(contract_template_database, postgres_databases, tmp_path_factory):
    """trigger -> run state / task instance / lineage; pool create -> get / delete (the spec's links).

    Each scenario starts from a fresh seeded database, so that replaying a scenario meets the same state.
    """
    run_links(schema.as_state_machine(), contract_template_database, postgres_databases, tmp_path_factory)


def declares_links(spec: dict) -> bool:
    return any(
        response.get("links")
        for item in spec["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
        for response in operation.get("responses", {}).values()
    )


def test_v1_links(contract_template_database, postgres_databases, tmp_path_factory):
    """The links openapi/v1.yaml declares, as a state machine like the experimental one's."""
    if not declares_links(load_spec(V1_SPEC_PATH)):
        pytest.skip("openapi/v1.yaml declares no links yet")
    run_links(v1_schema.as_state_machine(), contract_template_database, postgres_databases, tmp_path_factory)

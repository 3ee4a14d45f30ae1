"""openapi/v1.yaml as a product, checked on every operation it holds, so that an operation added to it is
covered the moment it is: Airflow's operationId in camelCase bound to an existing handler function, a
description, a documented 401 where credentials are needed, every 4xx as problem+json; and, on the app
with basic_auth, a 401 in Airflow's v1 error shape with a WWW-Authenticate challenge to a request with no
credentials and to one with wrong credentials (and none where the operation declares `security: []`).
"""

from __future__ import annotations

import base64
import importlib
import inspect
import re
from collections.abc import Iterator

import pytest
import yaml
from openapi_spec_validator import validate

from slipstream.api.app import V1_SPEC_PATH, create_app
from slipstream.api.connexion_routing import handler_path, snake_case
from slipstream.services import users
from slipstream.storage.db import session_scope
from tests.api.support import api_settings, copy_database, drop_database

V1 = "/api/v1"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
UNAUTHENTICATED_TYPE = (
    "https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html#section/Errors/Unauthenticated"
)
USERNAME, PASSWORD = "v1-contract", "a long enough password"


def load_spec() -> dict:
    return yaml.safe_load(V1_SPEC_PATH.read_text(encoding="utf-8"))


SPEC = load_spec()


def operations(spec: dict = SPEC) -> list[tuple[str, str, dict, list[dict]]]:
    """(method, path, operation, its parameters resolved: path-item level and operation level)."""
    shared = spec.get("components", {}).get("parameters", {})

    def resolved(parameter: dict) -> dict:
        return shared[parameter["$ref"].rsplit("/", 1)[1]] if "$ref" in parameter else parameter

    found = []
    for path, item in spec["paths"].items():
        common = [resolved(p) for p in item.get("parameters", [])]
        for method in HTTP_METHODS:
            if method in item:
                operation = item[method]
                own = [resolved(p) for p in operation.get("parameters", [])]
                found.append((method.upper(), path, operation, common + own))
    return found


OPERATIONS = operations()
IDS = [f"{method} {path}" for method, path, _, _ in OPERATIONS]


def is_secured(operation: dict, spec: dict = SPEC) -> bool:
    requirement = operation["security"] if "security" in operation else spec.get("security", [])
    return bool(requirement) and all(requirement_item for requirement_item in requirement)


def example_url(path: str, parameters: list[dict]) -> str:
    """The path with each path parameter filled with a value of its type (none needs to exist: the
    credentials are checked before anything is looked up)."""
    kinds = {p["name"]: p.get("schema", {}).get("type") for p in parameters if p["in"] == "path"}
    return V1 + re.sub(r"\{(\w+)\}", lambda m: "1" if kinds.get(m.group(1)) == "integer" else "x", path)


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


class TestEveryOperationOfTheSpec:
    def test_the_spec_is_valid_openapi(self):
        validate(load_spec())

    def test_it_has_operations(self):
        assert {"getHealth", "getVersion"} <= {operation["operationId"] for _, _, operation, _ in OPERATIONS}

    def test_operation_ids_are_unique(self):
        ids = [operation["operationId"] for _, _, operation, _ in OPERATIONS]
        assert sorted(ids) == sorted(set(ids))

    @pytest.mark.parametrize(("method", "path", "operation", "parameters"), OPERATIONS, ids=IDS)
    def test_operation_id_is_camel_case(self, method, path, operation, parameters):
        # apache-airflow-client's method names come from them: getDags -> get_dags.
        assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", operation["operationId"]), operation["operationId"]

    @pytest.mark.parametrize(("method", "path", "operation", "parameters"), OPERATIONS, ids=IDS)
    def test_it_names_a_controller_whose_function_exists(self, method, path, operation, parameters):
        controller = operation.get("x-openapi-router-controller")
        assert controller and controller.startswith("handlers.v1."), controller
        function = getattr(importlib.import_module(controller), snake_case(operation["operationId"]), None)
        assert inspect.isfunction(function), f"{handler_path(operation)} does not exist"

    @pytest.mark.parametrize(("method", "path", "operation", "parameters"), OPERATIONS, ids=IDS)
    def test_it_has_a_summary_and_a_description(self, method, path, operation, parameters):
        assert str(operation.get("summary", "")).strip()
        assert str(operation.get("description", "")).strip()

    @pytest.mark.parametrize(("method", "path", "operation", "parameters"), OPERATIONS, ids=IDS)
    def test_a_secured_operation_documents_its_401(self, method, path, operation, parameters):
        if not is_secured(operation):
            pytest.skip("security: [] (open to everyone)")
        assert operation["responses"].get("401") == {"$ref": "#/components/responses/Unauthenticated"}

    @pytest.mark.parametrize(("method", "path", "operation", "parameters"), OPERATIONS, ids=IDS)
    def test_its_errors_are_documented_as_problem_json(self, method, path, operation, parameters):
        responses = SPEC["components"]["responses"]
        for status, response in operation["responses"].items():
            if not status.startswith("4"):
                continue
            response = responses[response["$ref"].rsplit("/", 1)[1]] if "$ref" in response else response
            expected = NOT_PROBLEM_JSON.get((method, path, status), {"application/problem+json"})
            assert set(response.get("content", {})) == expected, status


# Errors Airflow 2.10.5 answers outside problem+json, which clients of these operations read as it sends them:
# the 406s of content negotiation (an empty body, or "Not Allowed Accept Header") and the connection test's
# "disabled" sentence, as text/html (the golden transcripts record each).
NOT_PROBLEM_JSON = {
    ("GET", "/config", "406"): {"text/html"},
    ("GET", "/config/section/{section}/option/{option}", "406"): {"text/html"},
    ("GET", "/dagSources/{file_token}", "406"): {"text/html"},
    ("POST", "/connections/test", "403"): {"text/html", "application/problem+json"},
}


@pytest.fixture(scope="module")
def secure_client(contract_template_database, postgres_databases, tmp_path_factory) -> Iterator:
    """The app with basic_auth (user USERNAME), without the failed-login limit (this module fails on purpose)."""
    home = tmp_path_factory.mktemp("v1_auth")
    url = copy_database(contract_template_database, home, postgres_databases)
    settings = api_settings(home, database_url=url, auth_backend="basic_auth", auth_failures_per_minute=0)
    settings.dags_folder.mkdir(parents=True, exist_ok=True)
    with session_scope(settings.database_url) as session:
        users.create_user(session, USERNAME, PASSWORD, actor={"username": None, "remote_addr": None})
    yield create_app(settings).test_client()
    drop_database(url, postgres_databases)


def send(client, method: str, path: str, operation: dict, parameters: list[dict], headers: dict[str, str]):
    body = {"json": {}} if "requestBody" in operation else {}
    return client.request(method, example_url(path, parameters), headers=headers, **body)


def assert_airflow_401(response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Basic realm="), response.headers
    body = response.json()
    assert set(body) == {"detail", "status", "title", "type"}, body
    assert (body["status"], body["title"], body["type"]) == (401, "Unauthorized", UNAUTHENTICATED_TYPE)
    assert body["detail"] is None or isinstance(body["detail"], str)


SECURED = [entry for entry in OPERATIONS if is_secured(entry[2])]
OPEN = [entry for entry in OPERATIONS if not is_secured(entry[2])]


def ids_of(entries: list) -> list[str]:
    return [f"{method} {path}" for method, path, _, _ in entries]


class TestUnauthenticated:
    @pytest.mark.parametrize(("method", "path", "operation", "parameters"), SECURED, ids=ids_of(SECURED))
    def test_no_credentials_get_airflows_401(self, secure_client, method, path, operation, parameters):
        assert_airflow_401(send(secure_client, method, path, operation, parameters, {}))

    @pytest.mark.parametrize(("method", "path", "operation", "parameters"), SECURED, ids=ids_of(SECURED))
    def test_wrong_credentials_get_airflows_401(self, secure_client, method, path, operation, parameters):
        assert_airflow_401(send(secure_client, method, path, operation, parameters, basic(USERNAME, "wrong password")))
        assert_airflow_401(send(secure_client, method, path, operation, parameters, basic("nobody", PASSWORD)))

    @pytest.mark.parametrize(("method", "path", "operation", "parameters"), OPEN, ids=ids_of(OPEN))
    def test_an_open_operation_needs_no_credentials(self, secure_client, method, path, operation, parameters):
        assert send(secure_client, method, path, operation, parameters, {}).status_code != 401

    def test_right_credentials_pass(self, secure_client):
        # The 401s above come from the credentials, not from the request: the same user gets in.
        assert secure_client.get(f"{V1}/version", headers=basic(USERNAME, PASSWORD)).status_code == 200

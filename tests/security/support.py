"""Every operation of openapi/experimental.yaml as a concrete request, so a new operation is covered
by the security tests the moment it is added to the spec."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from slipstream.api.app import BASE_PATH, load_spec
from tests.api.support import PROBLEM_JSON

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
ERROR_KEYS = {"error", "type", "title", "status", "detail"}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    url: str
    body: Any
    security: list | None

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def _resolve(spec: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in item:
        node: Any = spec
        for part in item["$ref"].lstrip("#/").split("/"):
            node = node[part]
        item = node
    return item


def _example_value(spec: dict[str, Any], parameter: dict[str, Any]) -> str:
    schema = _resolve(spec, parameter.get("schema", {}))
    for source in (parameter, schema):
        if "example" in source:
            return str(source["example"])
    raise AssertionError(f"path parameter {parameter['name']} needs an example in the spec")


def _example_body(spec: dict[str, Any], operation: dict[str, Any]) -> Any:
    request_body = operation.get("requestBody")
    if request_body is None:
        return None
    media = _resolve(spec, request_body)["content"]["application/json"]
    if "example" in media:
        return media["example"]
    if "examples" in media:
        return next(iter(media["examples"].values()))["value"]
    return {}


def spec_operations() -> list[Operation]:
    spec = load_spec()
    found = []
    for path, path_item in spec["paths"].items():
        shared = path_item.get("parameters", [])
        for method in HTTP_METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            parameters = {}
            for parameter in [*shared, *operation.get("parameters", [])]:
                parameter = _resolve(spec, parameter)
                if parameter["in"] == "path":
                    parameters[parameter["name"]] = _example_value(spec, parameter)
            url = BASE_PATH + re.sub(r"\{(\w+)\}", lambda m, values=parameters: values[m.group(1)], path)
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    url=url,
                    body=_example_body(spec, operation),
                    security=operation.get("security", spec.get("security")),
                )
            )
    return found


OPERATIONS = spec_operations()
OPERATION_IDS = [op.id for op in OPERATIONS]


def call(client, operation: Operation, headers: dict[str, str] | None = None):
    kwargs: dict[str, Any] = {"headers": headers or {}}
    if operation.body is not None:
        kwargs["json"] = operation.body
    return client.request(operation.method, operation.url, **kwargs)


def assert_problem(response, status: int | None = None) -> dict[str, Any]:
    """The one error shape: application/problem+json with Airflow's `error` and the RFC 9457 fields."""
    if status is not None:
        assert response.status_code == status, response.text
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers
    body = response.json()
    assert set(body) == ERROR_KEYS, body
    assert body["status"] == response.status_code
    assert body["error"] == body["detail"] and isinstance(body["error"], str) and body["error"]
    assert body["type"] == "about:blank"
    return body

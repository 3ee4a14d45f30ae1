"""The spec itself: valid OpenAPI, every operationId bound to a handler, and no route that it does not declare."""

from __future__ import annotations

import importlib
import inspect
import re
import tempfile
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate
from starlette.routing import Mount, Route, Router

from slipstream.api.app import BASE_PATH, CONTRACTS, SPEC_PATH, V1_SPEC_PATH, create_app
from slipstream.api.connexion_routing import handler_path
from tests.api.support import api_settings

SPECS = sorted(SPEC_PATH.parent.glob("*.yaml"))
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# What Connexion serves beside the operations: each API's spec and its Swagger UI.
SPEC_AND_UI_ROUTES = {
    f"{base}{route}"
    for base in (BASE_PATH, "/api/v1")
    for route in ("/openapi.json", "/openapi.yaml", "/ui", "/ui/", "/ui/index.html")
}
# The path each spec file is served under.
BASE_PATHS = {spec: base for base, spec in CONTRACTS}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method.upper(), path, operation


def resolve(operation_id: str):
    module_name, _, function_name = operation_id.rpartition(".")
    return getattr(importlib.import_module(module_name), function_name)


def routes_of(router: Router, prefix: str = ""):
    """(path, methods, operation_id or None) of every route under a Starlette router, through mounts.

    Starlette's converters (`{name:path}` for a `format: path` parameter) are written back as `{name}`.
    """
    for route in router.routes:
        if isinstance(route, Route):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", prefix + route.path)
            yield path, frozenset(route.methods or ()), getattr(route.endpoint, "operation_id", None)
        elif isinstance(route, Mount):
            if isinstance(route.app, Router):
                yield from routes_of(route.app, prefix + route.path)
            else:  # static files (the Swagger UI's assets)
                yield prefix + route.path, frozenset({"GET", "HEAD"}), None


@pytest.fixture(scope="module")
def served_routes():
    """Every route the built app answers, read from the routers inside Connexion's middleware stack."""
    app = create_app(api_settings(Path(tempfile.gettempdir()) / "slipstream-spec-only"))
    client = app.test_client()
    assert client.get(f"{BASE_PATH}/openapi.json").status_code == 200  # builds the middleware stack
    found: dict[str, list] = {}
    for middleware in app.middleware.middleware_stack:
        router = getattr(middleware, "router", None)
        if isinstance(router, Router) and (routes := list(routes_of(router))):
            # Named after Connexion's class, which slipstream.api.connexion_routing subclasses.
            connexion_class = next(c for c in type(middleware).__mro__ if c.__module__.startswith("connexion."))
            found[connexion_class.__name__] = routes
    return found


class TestSpecFiles:
    @pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
    def test_is_valid_openapi(self, path):
        validate(load(path))

    def test_the_experimental_and_v1_specs_are_among_them(self):
        assert {SPEC_PATH, V1_SPEC_PATH} <= set(SPECS)
        assert set(SPECS) == set(BASE_PATHS)  # every file in openapi/ is served

    @pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
    def test_operation_ids_are_unique(self, path):
        ids = [operation["operationId"] for _, _, operation in operations(load(path))]
        assert len(ids) == len(set(ids))

    @pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
    def test_every_operation_id_resolves_to_a_handler_function(self, path):
        for method, route, operation in operations(load(path)):
            bound = handler_path(operation)
            assert bound.startswith("handlers."), (method, route, bound)
            function = resolve(bound)
            assert inspect.isfunction(function), (method, route, bound)

    def test_operation_ids_of_the_experimental_api_are_not_python_paths(self):
        # Generators name methods after them: `triggerDagRun`, not `handlers_dag_runs_trigger_dag_run`.
        for method, route, operation in operations(load(SPEC_PATH)):
            assert re.fullmatch(r"[a-z][A-Za-z]+", operation["operationId"]), (method, route)

    def test_every_link_names_an_operation_of_the_spec(self):
        spec = load(SPEC_PATH)
        ids = {operation["operationId"] for _, _, operation in operations(spec)}
        for _, _, operation in operations(spec):
            for response in operation.get("responses", {}).values():
                for link in response.get("links", {}).values():
                    assert link["operationId"] in ids

    def test_every_operation_documents_its_errors_as_problem_json(self):
        spec = load(SPEC_PATH)
        responses = spec["components"]["responses"]
        for method, path, operation in operations(spec):
            for status, response in operation["responses"].items():
                if not status.startswith("4"):
                    continue
                response = responses[response["$ref"].rsplit("/", 1)[1]] if "$ref" in response else response
                assert set(response["content"]) == {"application/problem+json"}, (method, path, status)


class TestRoutes:
    def test_the_router_holds_exactly_the_specs_operations(self, served_routes):
        declared = set()
        for path in SPECS:
            base = BASE_PATHS[path]
            for method, route, operation in operations(load(path)):
                declared.add((base + route, method, handler_path(operation)))

        routed = set()
        for route, methods, operation_id in served_routes["RoutingMiddleware"]:
            assert operation_id is not None, route
            routed.update((route, method, operation_id) for method in methods - {"HEAD"})

        assert routed == declared

    def test_nothing_else_is_routed_but_the_spec_and_its_ui(self, served_routes):
        # Only Connexion's routing (the operations) and Swagger UI middlewares route anything.
        assert set(served_routes) == {"SwaggerUIMiddleware", "RoutingMiddleware"}
        assert {route for route, _, _ in served_routes["SwaggerUIMiddleware"]} == SPEC_AND_UI_ROUTES

    def test_handlers_declare_no_routes_of_their_own(self):
        # The HTTP surface is declared once, in the spec: no decorators or route tables in code.
        root = SPEC_PATH.parent.parent
        sources = [*(root / "handlers").glob("*.py"), *(root / "slipstream").rglob("*.py")]
        assert sources
        for source in sources:
            text = source.read_text(encoding="utf-8")
            for marker in ("@app.route", "add_url_rule", ".add_route(", "@router.", "APIRouter("):
                assert marker not in text, f"{source}: {marker}"

"""How Connexion routes and serves the spec here: readable operationIds, exact paths, the spec as written.

- operationIds are what generators name methods after (`triggerDagRun`), so they are not Python paths:
  `x-openapi-router-controller` names the module and the operationId, in snake_case, the function.
- A path is matched exactly, as Airflow's Flask does: `/test/` is a 404, not a redirect to `/test`;
  and a path parameter may hold any character but `/`, a line feed included (Starlette's mounts stop
  at one, so `/dags/a%0Ab/dag_runs` was a route 404 where the spec promises the operation's answer).
- `openapi.json` and `openapi.yaml` serve the spec as written, `$ref`s kept (Connexion serves it with
  every reference inlined, which generators turn into a model class per inlined copy).
"""

from __future__ import annotations

import re
import typing as t

from connexion.jsonifier import Jsonifier
from connexion.middleware.main import ConnexionMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.swagger_ui import SwaggerUIAPI, SwaggerUIMiddleware
from connexion.resolver import Resolver
from connexion.utils import yamldumper
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount


def snake_case(operation_id: str) -> str:
    """`triggerDagRun` -> `trigger_dag_run`."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", operation_id).lower()


class ControllerResolver(Resolver):
    """`operationId: triggerDagRun` with `x-openapi-router-controller: handlers.dag_runs` binds
    `handlers.dag_runs.trigger_dag_run`; an operation without a controller keeps a dotted operationId."""

    def resolve_operation_id(self, operation: t.Any) -> str:
        operation_id = operation.operation_id
        controller = operation.router_controller
        if controller is None:
            return operation_id
        return f"{controller}.{snake_case(operation_id)}"


def handler_path(operation: dict[str, t.Any]) -> str:
    """The dotted path of the function an operation of the spec (a dict) is bound to."""
    controller = operation.get("x-openapi-router-controller")
    operation_id = operation["operationId"]
    return f"{controller}.{snake_case(operation_id)}" if controller else operation_id


class _AnyCharacterPathConvertor(PathConvertor):
    """Starlette's `path` convertor (which every Mount uses for the rest of the path) with `.` matching
    line feeds too."""

    regex = "(?s:.*)"


class ExactPathRoutingMiddleware(RoutingMiddleware):
    """Connexion's routing without Starlette's slash redirects (`/test/` -> 307 `/test`), its mounts
    passing on paths that hold a line feed."""

    def __init__(self, app: t.Any) -> None:
        # Registered before this middleware's mounts compile their paths (Connexion registers its own
        # `int` and `float` convertors the same way).
        register_url_convertor("path", _AnyCharacterPathConvertor())
        super().__init__(app)
        self.router.redirect_slashes = False

    def add_api(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().add_api(*args, **kwargs)
        for route in self.router.routes:
            if isinstance(route, Mount):
                route.app.redirect_slashes = False


class _SpecAsWrittenAPI(SwaggerUIAPI):
    """Serves the spec as written (with the servers block for the prefix it is reached at)."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.router.redirect_slashes = False
        self._served: dict[tuple[str, str], bytes] = {}

    def _serialized(self, request: Request, kind: str) -> bytes:
        base_path = self._base_path_for_prefix(request)
        key = (base_path, kind)
        body = self._served.get(key)
        if body is None:
            spec = self.specification.with_base_path(base_path).raw
            # Jsonifier: YAML parses dates into datetime objects, which json alone cannot write.
            text = Jsonifier().dumps(spec) if kind == "json" else yamldumper(spec)
            body = text.encode()
            if len(self._served) < 16:  # prefixes come from the proxy in front: a few at most
                self._served[key] = body
        return body

    async def _get_openapi_json(self, request: Request) -> Response:
        return Response(self._serialized(request, "json"), media_type="application/json")

    async def _get_openapi_yaml(self, request: Request) -> Response:
        return Response(self._serialized(request, "yaml"), media_type="text/yaml")


class SpecAsWrittenSwaggerUIMiddleware(SwaggerUIMiddleware):
    def __init__(self, app: t.Any) -> None:
        super().__init__(app)
        self.router.redirect_slashes = False

    def add_api(self, specification: t.Any, base_path: str | None = None, arguments: dict | None = None, **kwargs):
        api = _SpecAsWrittenAPI(
            specification, base_path=base_path, arguments=arguments, default=self.default_fn, **kwargs
        )
        self.router.mount(api.base_path, app=api.router)


def connexion_middlewares() -> list[t.Any]:
    """Connexion's middleware stack, with the routing and spec serving above in place of its own."""
    replacements = {
        SwaggerUIMiddleware: SpecAsWrittenSwaggerUIMiddleware,
        RoutingMiddleware: ExactPathRoutingMiddleware,
    }
    return [replacements.get(middleware, middleware) for middleware in ConnexionMiddleware.default_middlewares]

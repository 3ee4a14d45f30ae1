"""create_app(settings): the Connexion app serving openapi/experimental.yaml under /api/experimental and
openapi/v1.yaml under /api/v1; errors mapped to each contract's JSON shape."""

from __future__ import annotations

import contextlib
import functools
import gc
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import yaml
from connexion import AsyncApp  # noqa: E402
from connexion.exceptions import ProblemException  # noqa: E402
from connexion.jsonifier import Jsonifier  # noqa: E402
from connexion.lifecycle import ConnexionRequest, ConnexionResponse  # noqa: E402
from connexion.middleware import MiddlewarePosition  # noqa: E402
from connexion.middleware.lifespan import Lifespan  # noqa: E402
from connexion.options import SwaggerUIOptions  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402

from slipstream.api.connexion_cache import VALIDATOR_MAP_CACHED, use_cached_operations  # noqa: E402
from slipstream.api.connexion_routing import ControllerResolver, connexion_middlewares  # noqa: E402
from slipstream.api.http import PROBLEM_JSON, JsonBodyCheckMiddleware, RequestShapingMiddleware, problem_body  # noqa: E402
from slipstream.api.v1_problems import V1_BASE_PATH, V1Problem, is_v1_path, phrase  # noqa: E402
from slipstream.api.v1_problems import problem as v1_problem  # noqa: E402
from slipstream.config import Settings  # noqa: E402
from slipstream.errors import SlipstreamError  # noqa: E402

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "experimental.yaml"
HEALTH_SPEC_PATH = SPEC_PATH.with_name("health.yaml")
V1_SPEC_PATH = SPEC_PATH.with_name("v1.yaml")
BASE_PATH = "/api/experimental"
# Each contract and the path it is served under.
CONTRACTS = ((BASE_PATH, SPEC_PATH), (V1_BASE_PATH, V1_SPEC_PATH), ("", HEALTH_SPEC_PATH))


class OrjsonJsonifier(Jsonifier):
    """Sorted keys like Airflow's jsonify, at orjson's speed."""

    def __init__(self) -> None:
        super().__init__()

    def dumps(self, data: Any, **kwargs: Any) -> str:
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()

    def loads(self, data: Any) -> Any:
        if isinstance(data, (bytes, bytearray, memoryview, str)):
            return orjson.loads(data)
        return data


@functools.lru_cache(maxsize=4)
def _load_spec_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def load_spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    return yaml.safe_load(_load_spec_text(path))


def _error_response(status: int, message: str, headers: dict[str, str] | None = None) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=status,
        body=problem_body(status, message),
        content_type=PROBLEM_JSON,
        headers=headers or {},
    )


def _v1_response(body: bytes, status: int, headers: dict[str, str] | None = None) -> ConnexionResponse:
    return ConnexionResponse(status_code=status, body=body, content_type=PROBLEM_JSON, headers=headers or {})


def _on_v1(request: ConnexionRequest) -> bool:
    return is_v1_path(request.scope["path"])


async def _handle_v1_problem(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, V1Problem)
    return _v1_response(exc.body(), exc.status, exc.headers)


def _problem_message(exc: ProblemException) -> str:
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail else exc.title
    # jsonschema appends the whole failing schema after a blank line; the first part names the problem.
    return str(detail or "Error").split("\n\n", 1)[0]


async def _handle_domain_error(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, SlipstreamError)
    if _on_v1(request):
        return _v1_response(v1_problem(exc.status, phrase(exc.status), exc.message), exc.status)
    return _error_response(exc.status, exc.message)


async def _handle_problem(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, ProblemException)
    headers = dict(exc.headers or {})
    if _on_v1(request):
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail else exc.title
        # Connexion's unknown-query-parameter error is the one Airflow sends with a null title.
        title = None if str(detail).startswith("Extra query parameter") else phrase(exc.status)
        return _v1_response(v1_problem(exc.status, title, detail), exc.status, headers)
    return _error_response(exc.status, _problem_message(exc), headers)


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@functools.lru_cache(maxsize=1)
def _spec_routes() -> tuple[tuple[re.Pattern[str], frozenset[str], int], ...]:
    """(path pattern, its methods, how many path parameters it has) for every path of every contract."""
    routes = []
    for base_path, spec_path in CONTRACTS:
        spec = load_spec(spec_path)
        shared = spec.get("components", {}).get("parameters", {})
        for template, item in spec.get("paths", {}).items():
            methods = {method.upper() for method in item if method in _HTTP_METHODS}
            if "GET" in methods:
                methods.add("HEAD")
            # A `format: path` parameter may hold slashes, as Connexion routes it.
            parameters = [shared[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in item.get("parameters", [])]
            slashed = {p["name"] for p in parameters if p.get("schema", {}).get("format") == "path"}
            pattern = ""
            names = 0
            for literal, name in re.findall(r"([^{]*)(?:\{([^}]+)\})?", base_path + template):
                pattern += re.escape(literal) + ((".+" if name in slashed else "[^/]+") if name else "")
                names += bool(name)
            routes.append((re.compile(f"^{pattern}$"), frozenset(methods), names))
    return tuple(routes)


def _allowed_methods(path: str) -> list[str]:
    """Every method the specs route at this path. Connexion adds one route per operation, so Starlette's
    405 names only the first route's methods; RFC 9110 wants all of them in `Allow`. Where templates
    overlap (`/dags/~/dagRuns/list` and `/dags/{dag_id}/dagRuns/{dag_run_id}`), the resource is the most
    specific one: the template with the fewest parameters."""
    matching = [(names, methods) for pattern, methods, names in _spec_routes() if pattern.match(path)]
    if not matching:
        return []
    fewest = min(names for names, _ in matching)
    return sorted({method for names, methods in matching if names == fewest for method in methods})


async def _handle_http(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, HTTPException)
    messages = {
        404: "The requested URL was not found on the server. If you entered the URL manually please check "
        "your spelling and try again.",
        405: "The method is not allowed for the requested URL.",
    }
    message = messages.get(exc.status_code) or str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (allowed := _allowed_methods(request.scope["path"])):
        headers["Allow"] = ", ".join(allowed)
    if _on_v1(request):
        body = v1_problem(exc.status_code, phrase(exc.status_code), message, "about:blank")
        return _v1_response(body, exc.status_code, headers)
    return _error_response(exc.status_code, message, headers)


async def _handle_unexpected(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    import logging

    from slipstream.storage import db_errors

    if db_errors.is_unavailable(exc):
        db_errors.log_outage(exc)
        headers = {"Retry-After": str(db_errors.RETRY_AFTER_SECONDS)}
        if _on_v1(request):
            return _v1_response(v1_problem(503, phrase(503), db_errors.unavailable_message(exc)), 503, headers)
        return _error_response(503, db_errors.unavailable_message(exc), headers)

    logging.getLogger("slipstream.api").exception("Unhandled error", exc_info=exc)
    message = "Internal server error: this is a bug in Slipstream, please report it"
    if _on_v1(request):
        return _v1_response(v1_problem(500, phrase(500), message), 500)
    return _error_response(500, message)


def create_app(
    settings: Settings | None = None, *, validate_responses: bool = False, lifespan: Lifespan | None = None
) -> AsyncApp:
    settings = settings or Settings.from_env()
    from slipstream.api.auth import SECURITY_MAP, prepare_spec_security  # auth decides how the spec's security applies

    spec = prepare_spec_security(load_spec(), settings)
    v1_spec = prepare_spec_security(load_spec(V1_SPEC_PATH), settings)
    app = AsyncApp(
        __name__,
        jsonifier=OrjsonJsonifier(),
        validator_map=VALIDATOR_MAP_CACHED,
        lifespan=lifespan,
        middlewares=connexion_middlewares(),
    )
    use_cached_operations(app)
    app.add_api(
        spec,
        base_path=BASE_PATH,
        resolver=ControllerResolver(),
        strict_validation=True,
        validate_responses=validate_responses,
        security_map=SECURITY_MAP,
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/ui", spec_path="/openapi.json"),
    )
    app.add_api(
        v1_spec,
        base_path=V1_BASE_PATH,
        resolver=ControllerResolver(),
        strict_validation=True,
        validate_responses=validate_responses,
        security_map=SECURITY_MAP,
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/ui", spec_path="/openapi.json"),
    )
    app.add_api(
        load_spec(HEALTH_SPEC_PATH),
        base_path="",
        resolver=ControllerResolver(),
        validate_responses=validate_responses,
        swagger_ui_options=SwaggerUIOptions(swagger_ui=False, serve_spec=False),
    )
    app.add_middleware(RequestShapingMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION, settings=settings)
    if settings.auth_backend == "basic_auth" and settings.auth_failures_per_minute > 0:
        from slipstream.api.auth_limits import LockoutMiddleware

        open_paths = tuple(f"{base}/{name}" for base in (BASE_PATH, V1_BASE_PATH) for name in ("openapi.json", "ui"))
        app.add_middleware(
            LockoutMiddleware,
            position=MiddlewarePosition.BEFORE_EXCEPTION,
            settings=settings,
            protected_prefixes=(f"{BASE_PATH}/", f"{V1_BASE_PATH}/"),
            open_paths=open_paths + (f"{V1_BASE_PATH}/health",),
        )
    app.add_middleware(JsonBodyCheckMiddleware, position=MiddlewarePosition.BEFORE_VALIDATION)
    app.add_error_handler(V1Problem, _handle_v1_problem)
    app.add_error_handler(SlipstreamError, _handle_domain_error)
    app.add_error_handler(ProblemException, _handle_problem)
    app.add_error_handler(HTTPException, _handle_http)
    app.add_error_handler(Exception, _handle_unexpected)
    return app


@contextlib.asynccontextmanager
async def _freeze_startup_objects(_app: Any) -> AsyncIterator[None]:
    # The spec, validators and mappers built at startup live as long as the worker; frozen, the cyclic
    # GC's full passes stop walking all of them every few hundred requests (up to a quarter of the
    # CPU of GET /test in a profile).
    gc.collect()  # what is garbage already goes first, rather than being kept for good
    gc.freeze()
    yield


def create_app_from_env() -> AsyncApp:
    """Factory for uvicorn workers: each worker process reads SLIPSTREAM_* itself."""
    return create_app(Settings.from_env(), lifespan=_freeze_startup_objects)

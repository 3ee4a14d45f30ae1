"""create_app(settings): the Connexion app serving openapi/experimental.yaml; errors mapped to one JSON shape."""

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

from slipstream.config import Settings  # noqa: E402
from slipstream.connexion_cache import VALIDATOR_MAP_CACHED, use_cached_operations  # noqa: E402
from slipstream.errors import SlipstreamError  # noqa: E402
from slipstream.http import PROBLEM_JSON, JsonBodyCheckMiddleware, RequestShapingMiddleware, problem_body  # noqa: E402

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi" / "experimental.yaml"
HEALTH_SPEC_PATH = SPEC_PATH.with_name("health.yaml")
BASE_PATH = "/api/experimental"


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


def _problem_message(exc: ProblemException) -> str:
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail else exc.title
    # jsonschema appends the whole failing schema after a blank line; the first part names the problem.
    return str(detail or "Error").split("\n\n", 1)[0]


async def _handle_domain_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, SlipstreamError)
    return _error_response(exc.status, exc.message)


async def _handle_problem(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, ProblemException)
    headers = dict(exc.headers or {})
    return _error_response(exc.status, _problem_message(exc), headers)


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@functools.lru_cache(maxsize=1)
def _spec_routes() -> tuple[tuple[re.Pattern[str], frozenset[str]], ...]:
    routes = []
    for base_path, spec_path in ((BASE_PATH, SPEC_PATH), ("", HEALTH_SPEC_PATH)):
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
            for literal, name in re.findall(r"([^{]*)(?:\{([^}]+)\})?", base_path + template):
                pattern += re.escape(literal) + ((".+" if name in slashed else "[^/]+") if name else "")
            routes.append((re.compile(f"^{pattern}$"), frozenset(methods)))
    return tuple(routes)


def _allowed_methods(path: str) -> list[str]:
    """Every method the specs route at this path. Connexion adds one route per operation, so Starlette's
    405 names only the first route's methods; RFC 9110 wants all of them in `Allow`."""
    return sorted({method for pattern, methods in _spec_routes() if pattern.match(path) for method in methods})


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
    return _error_response(exc.status_code, message, headers)


async def _handle_unexpected(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    import logging

    logging.getLogger("slipstream.api").exception("Unhandled error", exc_info=exc)
    return _error_response(500, "Internal server error: this is a bug in Slipstream, please report it")


def create_app(
    settings: Settings | None = None, *, validate_responses: bool = False, lifespan: Lifespan | None = None
) -> AsyncApp:
    settings = settings or Settings.from_env()
    from slipstream.auth import SECURITY_MAP, prepare_spec_security  # auth decides how the spec's security applies

    spec = prepare_spec_security(load_spec(), settings)
    app = AsyncApp(__name__, jsonifier=OrjsonJsonifier(), validator_map=VALIDATOR_MAP_CACHED, lifespan=lifespan)
    use_cached_operations(app)
    app.add_api(
        spec,
        base_path=BASE_PATH,
        strict_validation=True,
        validate_responses=validate_responses,
        security_map=SECURITY_MAP,
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/ui", spec_path="/openapi.json"),
    )
    app.add_api(
        load_spec(HEALTH_SPEC_PATH),
        base_path="",
        validate_responses=validate_responses,
        swagger_ui_options=SwaggerUIOptions(swagger_ui=False, serve_spec=False),
    )
    app.add_middleware(RequestShapingMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION, settings=settings)
    app.add_middleware(JsonBodyCheckMiddleware, position=MiddlewarePosition.BEFORE_VALIDATION)
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

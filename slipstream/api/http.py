"""HTTP plumbing under Connexion: the error body shape, body limits, lenient bodies, no-store, settings."""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from http import HTTPStatus
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slipstream.api.json_limits import MAX_JSON_DEPTH, nests_deeper_than
from slipstream.api.v1_problems import is_v1_path, phrase
from slipstream.api.v1_problems import problem as v1_problem
from slipstream.config import Settings

PROBLEM_JSON = "application/problem+json"
_current_settings: ContextVar[Settings] = ContextVar("slipstream_settings")
_BODY_METHODS = {b"POST", b"PUT", b"PATCH", "POST", "PUT", "PATCH"}
# orjson stops at 1024 levels, but Connexion re-parses bodies with the standard library's recursive
# json module (and jsonschema and SQLAlchemy recurse too): ~1000 levels there is a RecursionError.


def current_settings() -> Settings:
    """The settings of the app serving this request (set per request by RequestShapingMiddleware)."""
    return _current_settings.get()


def problem_body(status: int, message: str) -> bytes:
    """Airflow's {"error": ...} plus RFC 9457 fields, so both Airflow clients and standard tooling read it."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return orjson.dumps(
        {"detail": message, "error": message, "status": status, "title": title, "type": "about:blank"},
        option=orjson.OPT_SORT_KEYS,
    )


class RequestShapingMiddleware:
    """Runs outside Connexion's routing and validation.

    - Bodies are read as JSON whatever Content-Type says, as Airflow does (`curl -d` without -H works).
    - Bodies over settings.max_body_bytes answer 413 before anything parses them; the body is then
      buffered and replayed (JsonBodyCheckMiddleware, after security, checks that it is JSON).
    - Every response gets `Cache-Control: no-store`.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        _current_settings.set(self.settings)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                headers.append((b"cache-control", b"no-store"))
                message = dict(message, headers=headers)
            await send(message)

        if scope["method"] in _BODY_METHODS:
            body = await self._read_body(scope, receive)
            if body is None:
                return  # the client left (or was cut off) mid-body: a truncated body is never acted on
            if isinstance(body, tuple):
                await send_error(send, *body, scope=scope)
                return
            if is_v1_path(scope["path"]) and body and not _declares_json(scope):
                # Airflow's v1 API insists on a JSON Content-Type (the experimental API reads any body).
                await send_error(
                    send, 415, f"Invalid Content-type ({_content_type(scope)}), expected JSON data", scope=scope
                )
                return
            headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            scope = dict(scope, headers=headers)
            receive = _replay(body)
        await self.app(scope, receive, send_with_headers)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | tuple[int, str] | None:
        limit = self.settings.max_body_bytes
        too_large = (413, f"Request body is larger than the limit of {limit} bytes")
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit() and int(value) > limit:
                return too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _content_type(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key == b"content-type":
            return value.decode("latin-1")
    return ""


def _declares_json(scope: Scope) -> bool:
    media_type = _content_type(scope).split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


class JsonBodyCheckMiddleware:
    """Refuses bodies that are not JSON (syntax, invalid UTF-8, nesting deeper than MAX_JSON_DEPTH).

    It sits after Connexion's security layer, so a client without credentials hears 401 first,
    and before validation, so the recursive parsers behind never see such a body.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _BODY_METHODS:
            message = await receive()
            body = message.get("body", b"")
            problem, document = _json_problem(body)
            if problem:
                await send_error(send, 400, problem, scope=scope)
                return
            if document is not NO_DOCUMENT:
                remember_json_body(scope, body, document)
            receive = _replay(body)
        await self.app(scope, receive, send)


# orjson reads integers beyond 64 bits as floats; json.loads (Connexion's parser) keeps them exact.
_LONG_DIGIT_RUN = re.compile(rb"\d{19}")


def loads_like_json_module(body: bytes | str) -> Any:
    """What json.loads reads from a body orjson accepts (JsonBodyCheckMiddleware refuses the rest), at
    orjson's speed: orjson's document, unless a run of 19+ digits may be an integer it would make a float."""
    raw = body.encode() if isinstance(body, str) else body
    return json.loads(body) if _LONG_DIGIT_RUN.search(raw) else orjson.loads(body)


# In scope["extensions"]: (body bytes, the document json.loads reads from them), parsed once per request.
_PARSED_BODY = "slipstream.parsed_json_body"
NO_DOCUMENT = object()


def remember_json_body(scope: Scope, body: bytes, document: Any) -> None:
    """Keep a body's document for the layers after this one, which would otherwise parse it again
    (Connexion's body validator, then its parameter decorator, with the standard library)."""
    scope.setdefault("extensions", {})[_PARSED_BODY] = (body, document)


def remembered_json_body(scope: Scope, body: bytes | None = None) -> Any:
    """The document remembered for `body` (for whatever body was remembered, if None), or NO_DOCUMENT.
    Nothing parses a body in place, so a document is as parsed for as long as the request lasts."""
    remembered = scope.get("extensions", {}).get(_PARSED_BODY)
    if remembered is None or (body is not None and remembered[0] != body):
        return NO_DOCUMENT
    return remembered[1]


def _json_problem(body: bytes) -> tuple[str | None, Any]:
    """What is wrong with a body (None if nothing), and its document as json.loads reads it."""
    if not body.strip():
        return None, NO_DOCUMENT
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return f"Request body is not valid JSON: {exc}", NO_DOCUMENT
    if nests_deeper_than(document, MAX_JSON_DEPTH):
        return f"Request body nests JSON arrays or objects deeper than {MAX_JSON_DEPTH} levels", NO_DOCUMENT
    if _LONG_DIGIT_RUN.search(body):
        document = json.loads(body)
    return None, document


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def send_error(
    send: Send, status: int, message: str, extra_headers: list | None = None, *, scope: Scope | None = None
) -> None:
    """An error answered below Connexion; under /api/v1 (given the request's scope) in Airflow's v1 shape."""
    if scope is not None and is_v1_path(scope.get("path", "")):
        body = v1_problem(status, phrase(status), message)
    else:
        body = problem_body(status, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *(extra_headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

"""Airflow's v1 error objects: `{"detail", "status", "title", "type"}` as application/problem+json.

Airflow words its errors per endpoint: some carry the message in `title` and leave `detail` null,
others the reverse, and `type` links to the documentation of the kind of error (or is `about:blank`
for routing errors). Handlers raise V1Problem with exactly Airflow's fields; errors raised elsewhere
(services' SlipstreamError, Connexion's validation, routing) are mapped here for paths under /api/v1.
"""

from __future__ import annotations

from http import HTTPStatus

import orjson

V1_BASE_PATH = "/api/v1"
DOCS = "https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html#section/Errors/"
ABOUT_BLANK = "about:blank"
# The documented kind of error for each status Airflow raises itself.
KINDS = {
    400: "BadRequest",
    401: "Unauthenticated",
    403: "PermissionDenied",
    404: "NotFound",
    409: "AlreadyExists",
    500: "Unknown",
    503: "Unknown",
}


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def type_for(status: int) -> str:
    kind = KINDS.get(status)
    return DOCS + kind if kind else ABOUT_BLANK


def problem(status: int, title: str | None, detail: str | None, type_: str | None = None) -> bytes:
    body = {"detail": detail, "status": status, "title": title, "type": type_ or type_for(status)}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


class V1Problem(Exception):
    """An error answered exactly as Airflow words it. `title` defaults to the status's phrase."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = "",
        type_: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.detail = detail
        self.title = phrase(status) if title == "" else title
        self.type = type_ or type_for(status)
        self.headers = headers or {}

    def body(self) -> bytes:
        return problem(self.status, self.title, self.detail, self.type)


def bad_request(detail: str | None = None, *, title: str | None = "") -> V1Problem:
    return V1Problem(400, detail, title=title)


def not_found(title: str | None = "", detail: str | None = None) -> V1Problem:
    """Airflow's NotFound: the message is sometimes the title (detail null), sometimes the detail."""
    return V1Problem(404, detail, title=title)


def already_exists(detail: str, *, title: str | None = "") -> V1Problem:
    return V1Problem(409, detail, title=title)


def permission_denied(detail: str, *, title: str | None = "") -> V1Problem:
    return V1Problem(403, detail, title=title)


def is_v1_path(path: str) -> bool:
    return path.startswith(V1_BASE_PATH + "/") or path == V1_BASE_PATH

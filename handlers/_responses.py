"""JSON responses serialized once with orjson (sorted keys, as Airflow's jsonify)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data, option=_OPTIONS), status_code=status, media_type="application/json")


def json_body_response(body: bytes, status: int = 200) -> Response:
    """A body that a service has rendered as JSON already."""
    return Response(body, status_code=status, media_type="application/json")


def text_response(text: str, status: int = 200) -> Response:
    return Response(text, status_code=status, media_type="text/plain; charset=utf-8")

"""Airflow's `@action_logging` for /api/v1: one audit-log row (an event log) per call of a changing operation.

As in Airflow, the row is written in a transaction of its own *before* the handler runs, so a request the
handler refuses (a 400, a 404) is logged too; one Connexion refuses (a body that breaks the contract)
never reaches the handler and is not. The row holds:
- `event`: `api.<name>` (`api.variable.create`, `api.post_pool`, ...);
- `owner`: the user, or "anonymous" when access is open;
- `dag_id`, `task_id`, `run_id` (or `dag_run_id`) and `execution_date` taken from the path and query;
- `extra`: the other query and path values, then the JSON body as sent, each value under a sensitive
  key name as ***. Variable events log the body alone, with the value masked when the *variable's* key
  is sensitive; connection events log the body alone, password and sensitive keys of `extra` masked.

Use: `@action_logging("variable.create")` above an `async def` handler (or a plain one).
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from connexion.context import scope

from handlers._audit import actor
from handlers._unit_of_work import group_committed
from slipstream.api.http import current_settings
from slipstream.scheduler.masking import redact_by_key
from slipstream.services import audit

ANONYMOUS = "anonymous"
# Never copied into `extra`: they have columns of their own (and is_paused is rewritten below).
_SKIPPED = frozenset(
    {"csrf_token", "_csrf_token", "is_paused", "dag_id", "task_id", "dag_run_id", "run_id", "execution_date"}
)
NON_JSON_EXTRA = "Encountered non-JSON in `extra` field"


def _request_values() -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The raw query items (in order, repeated keys kept) and the path parameters, as sent."""
    raw = scope.get("query_string", b"").decode("latin-1")
    query = parse_qsl(raw, keep_blank_values=True)
    path = dict(scope.get("path_params") or {})
    return query, path


def _mask_variable(fields: dict[str, Any], words: list[str]) -> dict[str, Any]:
    key = fields.get("key")
    return {
        name: redact_by_key(value, key, extra_words=words)
        if name in ("val", "value") and isinstance(key, str)
        else value
        for name, value in fields.items()
    }


def _mask_connection(fields: dict[str, Any], words: list[str]) -> dict[str, Any]:
    masked: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "extra" and value:
            try:
                masked[name] = redact_by_key(json.loads(value), extra_words=words)
            except (TypeError, json.JSONDecodeError):
                masked[name] = NON_JSON_EXTRA
        else:
            masked[name] = redact_by_key(value, name, extra_words=words)
    return masked


def _parse_date(value: str) -> datetime | None:
    """The request's execution date for the entry, if it is one a column holds (else none is logged)."""
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "+"))
        return parsed.astimezone(UTC) if parsed.tzinfo is not None else None
    except (OverflowError, ValueError):
        return None


def entry_for(event: str, body: Any) -> dict[str, Any]:
    """The audit row (keyword arguments of audit.record) for this request."""
    words = [w for w in current_settings().sensitive_var_conn_names.split(",") if w.strip()]
    query, path = _request_values()
    extra: dict[str, Any] = {
        name: redact_by_key(value, name, extra_words=words)
        for name, value in [*query, *path.items()]
        if name not in _SKIPPED
    }
    json_body = body if isinstance(body, dict) and body else None
    if event.startswith("variable."):
        extra = _mask_variable(json_body if json_body is not None else extra, words)
    elif event.startswith("connection."):
        extra = _mask_connection(json_body if json_body is not None else extra, words)
    elif json_body is not None:
        extra = {**extra, **{name: redact_by_key(value, name, extra_words=words) for name, value in json_body.items()}}
    params = {**dict(query), **path}
    if "is_paused" in params:
        extra["is_paused"] = params["is_paused"] == "false"
    who = actor()
    execution_date = params.get("execution_date")
    return {
        "event": f"api.{event}",
        "username": who["username"] or ANONYMOUS,
        "remote_addr": who["remote_addr"],
        "dag_id": params.get("dag_id"),
        "task_id": params.get("task_id"),
        "run_id": params.get("run_id") or params.get("dag_run_id"),
        "execution_date": _parse_date(execution_date) if isinstance(execution_date, str) else None,
        "extra": extra,
    }


def action_logging(
    event: str, *, contract_check: Callable[[Any], None] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`contract_check(body)` runs first and is not logged when it raises: a rule of the contract Airflow's
    Connexion enforces and Slipstream's does not (readOnly properties in a request body)."""

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        async def logged(*args: Any, **kwargs: Any) -> Any:
            if contract_check is not None:
                contract_check(kwargs.get("body"))
            entry = entry_for(event, kwargs.get("body"))
            await group_committed(lambda session: audit.record(session, **entry))
            result = handler(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        return logged

    return decorate

"""Airflow's pagination and ordering rules for v1 collections (`limit`, `offset`, `order_by`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slipstream.api.v1_problems import bad_request

MAXIMUM_PAGE_LIMIT = 100
FALLBACK_PAGE_LIMIT = 100


def page_limit(limit: int | None) -> int:
    """Airflow's check_limit: negative is a 400, 0 or absent is the fallback, over the maximum is capped."""
    if limit is None or limit == 0:
        return FALLBACK_PAGE_LIMIT
    if limit < 0:
        raise bad_request(title="Page limit must be a positive integer")
    return min(limit, MAXIMUM_PAGE_LIMIT)


def ordering(order_by: str | None, allowed: Mapping[str, Any], default: str) -> tuple[Any, bool]:
    """The column (or key) `order_by` names among `allowed` (API name -> column), and whether descending."""
    name = order_by or default
    descending = name.startswith("-")
    field = name[1:] if descending else name
    if field not in allowed:
        raise bad_request(f"Ordering with '{field}' is disallowed or the attribute does not exist on the model")
    return allowed[field], descending

"""Airflow's marshmallow errors for request bodies, worded as it words them (the repr of the error dict)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from slipstream.api.v1_problems import bad_request

MISSING = "Missing data for required field."
UNKNOWN = "Unknown field."


def schema_errors(body: Mapping[str, Any], *, fields: Iterable[str], required: Iterable[str] = ()) -> str | None:
    """`"{'value': ['Missing data for required field.'], 'bogus': ['Unknown field.']}"`, or None if the
    body is fine: missing required fields first (in the schema's order), then unknown ones (the body's)."""
    known = list(fields)
    errors: dict[str, list[str]] = {name: [MISSING] for name in known if name in set(required) and name not in body}
    errors.update({name: [UNKNOWN] for name in body if name not in known})
    return str(errors) if errors else None


def update_mask_fields(update_mask: list[str] | None) -> list[str]:
    """The mask's field names, stripped (Airflow accepts `a, b`)."""
    return [name.strip() for name in update_mask or []]


# Past any table's size, and inside the 64-bit integers both databases take for OFFSET.
_LARGEST_OFFSET = 2**62


def page_offset(offset: int | None) -> int:
    return min(offset or 0, _LARGEST_OFFSET)


def refuse_read_only(read_only: Iterable[str]) -> Callable[[Any], None]:
    """A check that a body sets none of `read_only`, worded as Airflow's Connexion words it."""
    names = tuple(read_only)

    def check(body: Any) -> None:
        if isinstance(body, Mapping):
            for name in names:
                if name in body:
                    raise bad_request(f"Property is read-only - '{name}'")

    return check


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, (list, tuple)):
        return any(_holds_nul(item) for item in value)
    return False


def refuse_nul(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A 400 for a path or query value holding NUL, which PostgreSQL refuses in any query (a 500 otherwise).
    Outermost, so that no audit row is attempted either."""

    @functools.wraps(handler)
    async def checked(*args: Any, **kwargs: Any) -> Any:
        for name, value in kwargs.items():
            if name != "body" and _holds_nul(value):
                raise bad_request(f"'{name}' can't contain NUL characters")
        result = handler(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    return checked

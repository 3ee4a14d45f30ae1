"""Filters as a shape and values: the shape (which filters a request uses, and how many values each list
holds) picks a prepared statement (slipstream.storage.raw_rows.PreparedShapes); the values are bound to it.
Shared by the v1 run and task-instance lists."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, false

from slipstream.services.text_values import matchable_only


def add_ranges(filters: Any, names: Iterable[str], shape: list, values: dict[str, Any]) -> None:
    """Each `<name>_gte`/`<name>_lte` bound the filters hold, as a ("name", side) entry and its value."""
    for name in names:
        for side in ("gte", "lte"):
            value = getattr(filters, f"{name}_{side}")
            if value is not None:
                shape.append((name, side))
                values[f"{name}_{side}"] = value


def add_list(name: str, listed: Iterable[str], shape: list, values: dict[str, Any]) -> None:
    """A list filter as a (name, count) entry and `<name>_<i>` values. A value holding NUL is left out:
    no stored row holds one, and PostgreSQL refuses it as a parameter."""
    kept = matchable_only(listed)
    shape.append((name, len(kept)))
    values.update({f"{name}_{i}": value for i, value in enumerate(kept)})


def range_condition(column: Any, name: str, side: str) -> Any:
    bound = bindparam(f"{name}_{side}")
    return column >= bound if side == "gte" else column <= bound


def in_list(column: Any, name: str, count: int) -> Any:
    """`column IN (<name>_0, ...)`; an empty list matches nothing."""
    return column.in_([bindparam(f"{name}_{i}") for i in range(count)]) if count else false()

"""The `_gte` / `_lte` filters of Airflow's v1 lists, as SQL conditions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def range_conditions(ranges: Iterable[tuple[Any, Any, Any]]) -> list[Any]:
    """`column >= low` and `column <= high` for each (column, low, high) whose bound is given."""
    conditions: list[Any] = []
    for column, low, high in ranges:
        if low is not None:
            conditions.append(column >= low)
        if high is not None:
            conditions.append(column <= high)
    return conditions

"""Text a client sends that no stored row can hold: PostgreSQL refuses a NUL character in a text
parameter (an error, where SQLite simply finds nothing), so such a value is answered as matching nothing."""

from __future__ import annotations

from collections.abc import Iterable


def matchable(*values: str | None) -> bool:
    """Whether every given value could equal a stored one (None means 'not given')."""
    return not any(value is not None and "\x00" in value for value in values)


def matchable_only(values: Iterable[str]) -> list[str]:
    """The values that could equal a stored one (a filter of several: the rest match nothing)."""
    return [value for value in values if "\x00" not in value]

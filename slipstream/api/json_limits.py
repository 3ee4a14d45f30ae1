"""How deep client JSON may nest. Deeper documents are refused before anything recursive touches them."""

from __future__ import annotations

from typing import Any

# Python's json module (Connexion) and SQLAlchemy's JSON encoding recurse; orjson stops at 1024.
MAX_JSON_DEPTH = 512


def nests_deeper_than(document: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays/objects nest deeper than `limit`, found without recursion."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False

"""`Context`: what a task's execute() receives (a dict of the keys in engine-semantics §7)."""

from typing import Any

Context = dict[str, Any]

__all__ = ["Context"]

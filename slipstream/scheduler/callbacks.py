"""Running a task's callbacks in its process: each entry of a list in turn; an exception in one is
logged and swallowed, so a callback never changes a state (task-model-semantics §7)."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any


def _entries(callback: Any) -> list[Callable]:
    if callback is None:
        return []
    if isinstance(callback, (list, tuple)):
        return [c for c in callback if c is not None]
    return [callback]


def run_task_callbacks(task: Any, name: str, context: dict[str, Any], log: Callable[..., None]) -> None:
    entries = _entries(getattr(task, name, None))
    for index, callback in enumerate(entries):
        try:
            callback(context)
        except Exception:
            label = getattr(callback, "__name__", repr(callback))
            if name == "on_execute_callback":
                log(f"Failed when executing execute callback\n{traceback.format_exc().rstrip()}", "ERROR")
            else:
                log(f"Error in callback at index {index}: {label}\n{traceback.format_exc().rstrip()}", "ERROR")

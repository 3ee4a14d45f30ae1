"""`airflow.decorators`: @dag, @task (and its variants), @task_group."""

import importlib

from slipstream.sdk.decorators import dag, get_current_context, task

_LAZY = {
    "task_group": "slipstream.sdk.task_group",
    "setup": "slipstream.sdk.setup_teardown",
    "teardown": "slipstream.sdk.setup_teardown",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'airflow.decorators' has no attribute {name!r}")


__all__ = ["dag", "get_current_context", "setup", "task", "task_group", "teardown"]

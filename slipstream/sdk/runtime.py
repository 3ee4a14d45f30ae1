"""What a running task can reach: its context, and the metadata database behind XCom.

The task runner calls `enter_task(...)` in the task process before `execute`; `get_current_context()`
and XCom (slipstream.sdk.xcom) read from here. Nothing here touches the database until a task asks,
so a task that never uses XCom pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

_state: dict[str, Any] = {
    "context": None,
    "max_xcom_bytes": 1024 * 1024,
    "renderer": None,
}


def enter_task(*, context: dict[str, Any], max_xcom_bytes: int, renderer: Callable[[Any, Any], Any]) -> None:
    """`renderer(value, template_ext)` renders a value with the task's Jinja environment and context."""
    _state.update(context=context, max_xcom_bytes=max_xcom_bytes, renderer=renderer)


def render(value: Any, template_ext: Any = ()) -> Any:
    """Render a value as the running task's templates are rendered (used by @task.bash)."""
    renderer = _state["renderer"]
    if renderer is None:
        return value
    return renderer(value, template_ext)


def get_current_context() -> dict[str, Any]:
    context = _state["context"]
    if context is None:
        from slipstream.sdk.exceptions import AirflowException

        raise AirflowException(
            "Current context was requested but no context was found! Are you running within an airflow task?"
        )
    return context


def max_xcom_bytes() -> int:
    return int(_state["max_xcom_bytes"])


# The database: the same sessions Variable and Connection use (slipstream.sdk.metastore), which own
# the task process's connections rather than the fork server's it inherited.
@contextmanager
def write_session():
    from slipstream.sdk.metastore import write_session as _write_session

    with _write_session() as session:
        yield session


@contextmanager
def read_session():
    from slipstream.sdk.metastore import read_session as _read_session

    with _read_session() as session:
        yield session


def __getattr__(name: str) -> Any:
    # What `airflow.models` names for type hints in DAG files: the objects tasks are handed.
    if name == "TaskInstance":
        from slipstream.scheduler.context import TaskInstanceView

        return TaskInstanceView
    if name == "DagRun":
        from slipstream.scheduler.context import DagRunView

        return DagRunView
    if name == "Pool":
        from slipstream.storage.models import Pool

        return Pool
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

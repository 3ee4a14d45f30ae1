"""Setup and teardown tasks (task-model-semantics §12): marking, `@setup`/`@teardown`, `with s >> t:`,
and the parse rule checked when a DAG file is imported.

A teardown runs once all its direct upstreams are done, if at least one of its direct setups succeeded
(trigger rule `all_done_setup_success`); the scheduler (slipstream/scheduler/dependencies.py) decides
that from the flags serialized here (`is_setup`, `is_teardown`, `on_failure_fail_dagrun`).
"""

from __future__ import annotations

import types
from typing import Any

from slipstream.sdk.exceptions import AirflowException

ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"
_CONTEXT_ERROR = "Only setup/teardown tasks can be used as context managers."


def _operator(node: Any) -> Any:
    """The operator behind a task or the XComArg a TaskFlow call returned."""
    return getattr(node, "operator", node)


def _operators(nodes: Any) -> list[Any]:
    from slipstream.sdk.dependencies import as_node_list

    return [_operator(node) for node in as_node_list(nodes)]


class SetupTeardownMixin:
    """What BaseOperator gains: the two marks, and the context manager a marked task is."""

    _is_setup: bool = False
    _is_teardown: bool = False
    _on_failure_fail_dagrun: bool = False

    @property
    def is_setup(self) -> bool:
        return self._is_setup

    @is_setup.setter
    def is_setup(self, value: bool) -> None:
        if value and self._is_teardown:
            raise ValueError(f"Cannot mark task '{self.task_id}' as setup; task is already a teardown.")
        self._is_setup = bool(value)

    @property
    def is_teardown(self) -> bool:
        return self._is_teardown

    @is_teardown.setter
    def is_teardown(self, value: bool) -> None:
        if value and self._is_setup:
            raise ValueError(f"Cannot mark task '{self.task_id}' as teardown; task is already a setup.")
        self._is_teardown = bool(value)

    @property
    def on_failure_fail_dagrun(self) -> bool:
        return self._on_failure_fail_dagrun

    @on_failure_fail_dagrun.setter
    def on_failure_fail_dagrun(self, value: bool) -> None:
        if value and not self._is_teardown:
            raise ValueError(
                f"Cannot set task on_failure_fail_dagrun for '{self.task_id}' because it is not a teardown task."
            )
        self._on_failure_fail_dagrun = bool(value)

    def as_setup(self) -> Any:
        self.is_setup = True
        return self

    def as_teardown(self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> Any:
        self.is_teardown = True
        self.trigger_rule = ALL_DONE_SETUP_SUCCESS
        if on_failure_fail_dagrun is not None:
            self.on_failure_fail_dagrun = on_failure_fail_dagrun
        if setups is not None:
            for setup_task in _operators(setups):
                setup_task.is_setup = True
                setup_task.set_downstream(self)
        return self

    # `with setup_task:`, `with teardown_task:` and `with s >> t:` (which is `with t:`).
    def __enter__(self) -> Any:
        if not (self.is_setup or self.is_teardown):
            raise AirflowException(_CONTEXT_ERROR)
        _ContextStack.push(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _ContextStack.pop(self, failed=exc[0] is not None)


class _ContextStack:
    """Open `with` blocks: each remembers which tasks its DAG had when it opened, so the tasks made
    inside are the ones added since (TaskFlow calls, operators, whole groups alike)."""

    _open: list[tuple[Any, set[str]]] = []

    @classmethod
    def push(cls, task: Any) -> None:
        dag = task.dag
        cls._open.append((task, set(dag.task_dict) if dag is not None else set()))

    @classmethod
    def pop(cls, task: Any, *, failed: bool) -> None:
        marked, before = cls._open.pop()
        if failed or marked.dag is None:
            return
        dag = marked.dag
        work = [t for tid, t in dag.task_dict.items() if tid not in before and not (t.is_setup or t.is_teardown)]
        if not work:
            return
        if marked.is_teardown:
            setups = [t for t in marked.upstream_list if t.is_setup]
            teardowns = [marked]
        else:
            setups = [marked]
            teardowns = [t for t in marked.downstream_list if t.is_teardown]
        # As Airflow: the work's roots come after the setups, its leaves before the teardowns.
        roots = [t for t in work if not t.upstream_task_ids] or [work[0]]
        leaves = [t for t in work if not t.downstream_task_ids] or [work[-1]]
        for setup_task in setups:
            setup_task.set_downstream(roots)
        for teardown_task in teardowns:
            teardown_task.set_upstream(leaves)


def validate_setup_teardown(dag: Any) -> None:
    """The parse rule: a setup's work tasks must wait for it to succeed (an import error otherwise)."""
    for task in dag.tasks:
        if not task.is_setup:
            continue
        for down in task.downstream_list:
            if not down.is_teardown and down.trigger_rule != "all_success":
                raise ValueError("Setup tasks must be followed with trigger rule ALL_SUCCESS.")


def _reject_groups(function: Any) -> None:
    from slipstream.sdk.task_group import TaskGroupFactory

    if isinstance(function, TaskGroupFactory):
        raise AirflowException("Task groups cannot be marked as setup or teardown.")


def _as_task_decorator(function: Any) -> Any:
    from slipstream.sdk.decorators import _TaskDecorator, task

    _reject_groups(function)
    if isinstance(function, types.FunctionType):
        function = task(function)
    if not isinstance(function, _TaskDecorator):
        raise TypeError(f"@setup and @teardown decorate functions or @task functions, not {type(function).__name__}")
    return function


class _MarkedTaskDecorator:
    """A @task function whose every call makes a setup (or teardown) task."""

    def __init__(self, decorator: Any, *, teardown: bool, on_failure_fail_dagrun: bool = False):
        self._decorator = decorator
        self._teardown = teardown
        self._on_failure_fail_dagrun = on_failure_fail_dagrun
        if teardown and "trigger_rule" in decorator.kwargs:
            raise ValueError("Trigger rule not configurable for teardown tasks.")
        self.__wrapped__ = decorator.function
        self.__name__ = getattr(decorator.function, "__name__", "task")
        self.__doc__ = getattr(decorator.function, "__doc__", None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = self._decorator(*args, **kwargs)
        operator = _operator(result)
        if self._teardown:
            operator.as_teardown(on_failure_fail_dagrun=self._on_failure_fail_dagrun)
        else:
            operator.as_setup()
        return result

    def override(self, **kwargs: Any) -> _MarkedTaskDecorator:
        if self._teardown and "trigger_rule" in kwargs:
            raise ValueError("Trigger rule not configurable for teardown tasks.")
        return _MarkedTaskDecorator(
            self._decorator.override(**kwargs),
            teardown=self._teardown,
            on_failure_fail_dagrun=self._on_failure_fail_dagrun,
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._decorator, name)


def setup(function: Any) -> Any:
    """`@setup` over a plain function or a `@task`: each call makes a setup task."""
    return _MarkedTaskDecorator(_as_task_decorator(function), teardown=False)


def teardown(function: Any = None, *, on_failure_fail_dagrun: bool = False) -> Any:
    """`@teardown` or `@teardown(on_failure_fail_dagrun=True)`: each call makes a teardown task."""

    def wrap(inner: Any) -> _MarkedTaskDecorator:
        return _MarkedTaskDecorator(
            _as_task_decorator(inner), teardown=True, on_failure_fail_dagrun=on_failure_fail_dagrun
        )

    return wrap(function) if function is not None else wrap


__all__ = ["setup", "teardown"]

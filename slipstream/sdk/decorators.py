"""TaskFlow: `@dag`, `@task` and its variants (task-model-semantics §3).

Calling a `@task` function inside a DAG creates an operator whose arguments are kept (XComArgs and
all) and resolved when it runs; the call returns an XComArg to its return value.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from slipstream.sdk.branching import BranchMixIn, ShortCircuitOperator
from slipstream.sdk.context_keys import CONTEXT_KEYS
from slipstream.sdk.dag import DAG, DagContext
from slipstream.sdk.operators import BashOperator, PythonOperator, determine_kwargs
from slipstream.sdk.xcom_arg import PlainXComArg, Resolvable, XComArg, set_xcomarg_dependencies


def _infer_multiple_outputs(function: Callable) -> bool:
    try:
        hints = typing.get_type_hints(function)
        annotation = hints.get("return", inspect.Signature.empty)
    except Exception:  # an annotation that does not evaluate: no inference, as in Airflow
        return False
    if annotation is inspect.Signature.empty or annotation is None:
        return False
    origin = typing.get_origin(annotation) or annotation
    if typing.is_typeddict(annotation):
        return True
    return isinstance(origin, type) and issubclass(origin, Mapping)


def _check_context_defaults(function: Callable) -> None:
    for name, param in inspect.signature(function).parameters.items():
        if name in CONTEXT_KEYS and param.default not in (inspect.Parameter.empty, None):
            raise ValueError(f"Context key parameter {name} can't have a default other than None")


_SUFFIX = re.compile(r"__\d+$")


def _unique_task_id(task_id: str, dag: DAG | None, task_group: Any = None) -> str:
    """`f`, then `f__1`, `f__2`... (past the highest suffix taken), judged by the group-prefixed id;
    the id returned is unprefixed: the operator adds its group's prefix itself."""
    if dag is None:
        return task_id
    from slipstream.sdk.task_group import TaskGroupContext

    group = task_group or TaskGroupContext.current(dag)
    prefixed = group.child_id(task_id) if group is not None else task_id
    if prefixed not in dag.task_dict:
        return task_id
    core = _SUFFIX.split(task_id)[0]
    pattern = re.compile(rf"^{re.escape(_SUFFIX.split(prefixed)[0])}__(\d+)$")
    taken = [int(m.group(1)) for other in dag.task_dict if (m := pattern.match(other))]
    return f"{core}__{max(taken, default=0) + 1}"


class _DecoratedPython:
    """What every TaskFlow operator adds: its function's arguments bound now, its doc, its XComArgs."""

    custom_operator_name = "@task"

    def __init__(
        self,
        *,
        python_callable: Callable,
        op_args: Any = None,
        op_kwargs: Any = None,
        multiple_outputs: bool = False,
        **kwargs: Any,
    ):
        # Not wrapped by BaseOperator's construction rules (a mixin): the operator's own __init__ next in
        # the MRO applies them.
        self._bind_arguments(python_callable, tuple(op_args or ()), dict(op_kwargs or {}))
        super().__init__(python_callable=python_callable, op_args=op_args, op_kwargs=op_kwargs, **kwargs)
        self.multiple_outputs = multiple_outputs

    def _bind_arguments(self, python_callable: Callable, op_args: tuple, op_kwargs: dict) -> None:
        signature = inspect.signature(python_callable)
        # Context keys the caller does not pass are filled when the task runs.
        parameters = [
            p.replace(default=None) if p.name in CONTEXT_KEYS and p.default is inspect.Parameter.empty else p
            for p in signature.parameters.values()
        ]
        signature.replace(parameters=parameters).bind(*op_args, **op_kwargs)


class _PythonDecoratedOperator(_DecoratedPython, PythonOperator):
    pass


class _BranchPythonDecoratedOperator(_PythonDecoratedOperator, BranchMixIn):
    custom_operator_name = "@task.branch"
    inherits_from_skipmixin = True

    def execute(self, context: dict[str, Any]) -> Any:
        return self.do_branch(context, super().execute(context))


class _ShortCircuitDecoratedOperator(_DecoratedPython, ShortCircuitOperator):
    custom_operator_name = "@task.short_circuit"


class _BashDecoratedOperator(_DecoratedPython, BashOperator):
    """The function returns the command; it is rendered as a template, then run as BashOperator runs it."""

    custom_operator_name = "@task.bash"
    template_fields = (*BashOperator.template_fields, "op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable,
        op_args: Any = None,
        op_kwargs: Any = None,
        multiple_outputs: bool = False,
        **kwargs: Any,
    ):
        if multiple_outputs:
            warnings.warn(
                "`multiple_outputs=True` is not supported in @task.bash tasks. Ignoring.", UserWarning, stacklevel=3
            )
        self._bind_arguments(python_callable, tuple(op_args or ()), dict(op_kwargs or {}))
        kwargs.pop("bash_command", None)
        BashOperator.__init__(self, bash_command="", **kwargs)  # past the mixin: the command comes at run time
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.multiple_outputs = False

    def execute(self, context: dict[str, Any]) -> Any:
        from slipstream.sdk import runtime

        merged = {**context, **self.op_kwargs}
        command = self.python_callable(*self.op_args, **determine_kwargs(self.python_callable, self.op_args, merged))
        if not isinstance(command, str) or not command.strip():
            raise TypeError("The returned value from the TaskFlow callable must be a non-empty string.")
        self.bash_command = runtime.render(command, self.template_ext)
        return super().execute(context)


class _TaskDecorator:
    """A decorated function: calling it inside a DAG adds a task and returns its XComArg."""

    def __init__(
        self,
        function: Callable,
        operator_class: type,
        multiple_outputs: bool | None = None,
        kwargs: dict[str, Any] | None = None,
    ):
        if inspect.signature(function).parameters.get("self") is not None:
            raise TypeError("@task does not support methods")
        _check_context_defaults(function)
        self.function = function
        self.operator_class = operator_class
        self.kwargs = dict(kwargs or {})
        self.multiple_outputs = _infer_multiple_outputs(function) if multiple_outputs is None else multiple_outputs
        self.partial_kwargs: dict[str, Any] = {}  # the function's arguments fixed by .partial() (mapping)
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        options = dict(self.kwargs)
        dag = options.get("dag") or DagContext.current()
        task_id = _unique_task_id(
            options.pop("task_id", None) or self.function.__name__, dag, options.get("task_group")
        )
        defaults = dict(getattr(dag, "default_args", None) or {})
        for name in inspect.signature(self.function).parameters:
            if name not in kwargs and name in defaults and name not in CONTEXT_KEYS:
                kwargs[name] = defaults[name]
        if self.function.__doc__ and "doc_md" not in options:
            options["doc_md"] = inspect.cleandoc(self.function.__doc__)
        operator = self.operator_class(
            task_id=task_id,
            python_callable=self.function,
            op_args=list(args),
            op_kwargs=kwargs,
            multiple_outputs=self.multiple_outputs,
            **options,
        )
        set_xcomarg_dependencies(operator, list(args), kwargs)
        return PlainXComArg(operator)

    def override(self, **kwargs: Any) -> _TaskDecorator:
        multiple_outputs = kwargs.pop("multiple_outputs", self.multiple_outputs)
        return _TaskDecorator(
            self.function, self.operator_class, multiple_outputs, {**self.kwargs, **kwargs}
        ).with_partial(self.partial_kwargs)

    # -- dynamic task mapping (slipstream.sdk.mapping) ----------------------------------------------
    def with_partial(self, partial_kwargs: dict[str, Any]) -> _TaskDecorator:
        copy = _TaskDecorator(self.function, self.operator_class, self.multiple_outputs, self.kwargs)
        copy.partial_kwargs = dict(partial_kwargs)
        return copy

    def partial(self, **kwargs: Any) -> _TaskDecorator:
        from slipstream.sdk.mapping import taskflow_partial

        return taskflow_partial(self, kwargs)

    def expand(self, **kwargs: Any) -> XComArg:
        from slipstream.sdk.mapping import taskflow_expand

        return taskflow_expand(self, "expand", kwargs)

    def expand_kwargs(self, kwargs: Any, *, strict: bool = True) -> XComArg:
        from slipstream.sdk.mapping import taskflow_expand

        return taskflow_expand(self, "expand_kwargs", kwargs)


def _make_decorator(operator_class: type) -> Callable:
    def decorator(python_callable: Callable | None = None, multiple_outputs: bool | None = None, **kwargs: Any):
        if python_callable is not None and not callable(python_callable):
            raise TypeError("python_callable must be callable")

        def wrap(function: Callable) -> _TaskDecorator:
            return _TaskDecorator(function, operator_class, multiple_outputs, kwargs)

        return wrap(python_callable) if python_callable is not None else wrap

    return decorator


def _requires_virtualenv(name: str) -> Callable:
    def decorator(python_callable: Callable | None = None, **kwargs: Any):
        from slipstream.sdk.venv import is_venv_installed

        if not is_venv_installed():
            raise ImportError(f"{name} requires virtualenv, please install it.")
        raise NotImplementedError(f"{name} is not supported by Slipstream: the task would run outside its virtualenv")

    return decorator


def _requires_external_python(python_callable: Callable | None = None, **kwargs: Any):
    raise NotImplementedError("ExternalPythonOperator (@task.external_python) is not supported by Slipstream")


def _sensor_decorator(python_callable: Callable | None = None, **kwargs: Any):
    # Imported when used: the sensors import this module for the TaskFlow operator base.
    from slipstream.sdk.sensors.decorator import DecoratedSensorOperator

    return _make_decorator(DecoratedSensorOperator)(python_callable, **kwargs)


class TaskDecoratorCollection:
    """`task`: `@task`, `@task()`, `@task.python`, `@task.bash`, `@task.branch`, `@task.short_circuit`..."""

    python = staticmethod(_make_decorator(_PythonDecoratedOperator))
    bash = staticmethod(_make_decorator(_BashDecoratedOperator))
    branch = staticmethod(_make_decorator(_BranchPythonDecoratedOperator))
    short_circuit = staticmethod(_make_decorator(_ShortCircuitDecoratedOperator))
    sensor = staticmethod(_sensor_decorator)
    virtualenv = staticmethod(_requires_virtualenv("PythonVirtualenvOperator"))
    branch_virtualenv = staticmethod(_requires_virtualenv("BranchPythonVirtualenvOperator"))
    external_python = staticmethod(_requires_external_python)
    branch_external_python = staticmethod(_requires_external_python)

    def __call__(self, *args: Any, **kwargs: Any):
        return self.python(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(f"task decorator {name!r} not found")


task = TaskDecoratorCollection()


class DagParam(Resolvable):
    """A `@dag` function's parameter: at run time the run's conf, else the DAG's params, else the default."""

    _NO_DEFAULT = object()

    def __init__(self, dag: DAG, name: str, default: Any = _NO_DEFAULT):
        self.dag = dag
        self.name = name
        self.default = default

    def resolve(self, context: dict[str, Any]) -> Any:
        conf = getattr(context.get("dag_run"), "conf", None) or {}
        if self.name in conf:
            return conf[self.name]
        params = context.get("params") or {}
        if self.name in params:
            return params[self.name]
        if self.default is not self._NO_DEFAULT:
            return self.default
        from slipstream.sdk.exceptions import AirflowException

        raise AirflowException(f"No value could be resolved for parameter {self.name}")


def dag(dag_id: Any = "", **dag_kwargs: Any) -> Callable:
    """`@dag(...)` (or bare `@dag`): calling the function builds the DAG; its parameters become params."""

    def wrapper(function: Callable) -> Callable:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def factory(*args: Any, **kwargs: Any) -> DAG:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            options = dict(dag_kwargs)
            if function.__doc__ and "doc_md" not in options:
                options["doc_md"] = inspect.cleandoc(function.__doc__)
            with DAG(dag_id or function.__name__, **options) as built:
                arguments = {}
                for name, value in bound.arguments.items():
                    if name not in built.params and value is not inspect.Parameter.empty:
                        built.params[name] = value
                    arguments[name] = DagParam(built, name, value)
                function(**arguments)
            return built

        factory.function = function  # type: ignore[attr-defined]
        return factory

    if callable(dag_id):  # bare @dag
        function, dag_id = dag_id, ""
        return wrapper(function)
    return wrapper


def get_current_context() -> dict[str, Any]:
    from slipstream.sdk.runtime import get_current_context as current

    return current()


__all__ = ["dag", "get_current_context", "task"]

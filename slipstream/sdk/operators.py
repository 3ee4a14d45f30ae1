"""Operators: BaseOperator with Airflow's task arguments, and Bash, Python and Empty operators."""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from slipstream.sdk.dag import DAG, DagContext, _aware
from slipstream.sdk.dataset_events import run_collecting_metadata
from slipstream.sdk.dependencies import DependencyMixin, as_node_list, relationship_error
from slipstream.sdk.deprecation import warn_deprecated
from slipstream.sdk.exceptions import AirflowException, AirflowSkipException
from slipstream.sdk.params import ParamsDict
from slipstream.sdk.setup_teardown import SetupTeardownMixin
from slipstream.sdk.task_group import TaskGroupContext, validate_task_key

TRIGGER_RULES = frozenset(
    {
        "all_success",
        "all_failed",
        "all_done",
        "all_skipped",
        "one_success",
        "one_failed",
        "one_done",
        "none_failed",
        "none_failed_min_one_success",
        "none_skipped",
        "always",
        "all_done_setup_success",
    }
)
WEIGHT_RULES = frozenset({"downstream", "upstream", "absolute"})


class TriggerRule:
    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_SKIPPED = "all_skipped"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"


@functools.cache
def _init_parameters(cls: type) -> frozenset[str]:
    # Cached per class: a DAG file with a thousand tasks would otherwise inspect signatures a thousand times.
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for name, param in inspect.signature(getattr(init, "__wrapped__", init)).parameters.items():
            if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY) and name != "self":
                names.add(name)
    return frozenset(names)


@functools.cache
def _required_parameters(init: Callable) -> tuple[str, ...]:
    """The arguments of one __init__ that have no default (task_id aside: Python names that one)."""
    signature = inspect.signature(init)
    return tuple(
        name
        for name, param in signature.parameters.items()
        if name not in ("self", "task_id")
        and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)
        and param.default is param.empty
    )


def operator_defaults(dag: DAG | None, task_group: Any, task_default_args: Any) -> dict[str, Any]:
    """default_args in Airflow's precedence: DAG < outer group < inner group < the operator's own."""
    merged: dict[str, Any] = dict(dag.default_args) if dag is not None else {}
    if task_group is not None and task_group.default_args:
        merged.update(task_group.default_args)  # already holds its outer groups' defaults
    if task_default_args:
        if not isinstance(task_default_args, Mapping):
            raise TypeError("default_args must be a mapping")
        merged.update(task_default_args)
    return merged


def _apply_default_args(init: Callable) -> Callable:
    """Airflow's construction rules around an operator's __init__: keyword arguments only, the DAG's,
    groups' and call's default_args filling what the caller left out, required arguments named."""

    @functools.wraps(init)
    def wrapper(self: BaseOperator, *args: Any, **kwargs: Any) -> None:
        if args:
            raise AirflowException("Use keyword arguments when initializing operators")
        if getattr(self, "_defaults_applied", False):
            return init(self, **kwargs)
        self._defaults_applied = True
        dag = kwargs.get("dag") or DagContext.current()
        task_group = kwargs.get("task_group")
        if dag is not None and task_group is None:
            task_group = TaskGroupContext.current(dag)
        defaults = operator_defaults(dag, task_group, kwargs.pop("default_args", None))
        accepted = _init_parameters(type(self))
        for key, value in defaults.items():
            if key in accepted and key not in kwargs:
                kwargs[key] = value
        if "params" in defaults and kwargs.get("params") is not defaults["params"]:
            # Airflow merges rather than replaces: task params < default_args["params"].
            merged = ParamsDict(kwargs.get("params"))
            merged.update(defaults["params"] or {})
            kwargs["params"] = merged
        missing = [name for name in _required_parameters(init) if name not in kwargs]
        if len(missing) == 1:
            raise AirflowException(f"missing keyword argument {missing[0]!r}")
        if missing:
            raise AirflowException(f"missing keyword arguments {', '.join(repr(m) for m in sorted(missing))}")
        init(self, **kwargs)
        _depend_on_template_xcomargs(self)

    return wrapper


def _depend_on_template_xcomargs(task: BaseOperator) -> None:
    """An XComArg in a template field makes its producer upstream (Airflow does it on construction)."""
    from slipstream.sdk.xcom_arg import set_xcomarg_dependencies

    if task.dag is not None:
        set_xcomarg_dependencies(task, *(getattr(task, name, None) for name in task.template_fields))


def _parse_retries(retries: Any) -> int:
    if retries is None:
        return 0
    if type(retries) is int:
        return retries
    try:
        return int(retries)
    except (TypeError, ValueError):
        raise AirflowException(f"'retries' type must be int, not {type(retries).__name__}") from None


def _as_timedelta(value: timedelta | float, key: str) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    raise TypeError(f"{key} must be a timedelta or a number of seconds, not {type(value).__name__}")


class BaseOperator(SetupTeardownMixin, DependencyMixin):
    """An Airflow 2.10.5 BaseOperator: every argument it accepts is accepted here (see the README for
    the ones that are stored but have no effect in Slipstream)."""

    template_fields: ClassVar[Sequence[str]] = ()
    template_ext: ClassVar[Sequence[str]] = ()
    template_fields_renderers: ClassVar[dict[str, str]] = {}
    ui_color: ClassVar[str] = "#fff"
    ui_fgcolor: ClassVar[str] = "#000"
    # Plain attributes (not the mixin's derived property): an operator knows its DAG and group.
    dag: DAG | None = None
    task_group: Any = None
    # Airflow 2.10's start from the triggerer: with both set (on the class or the instance), the
    # scheduler defers the task to `start_trigger_args` instead of running it on a worker.
    start_trigger_args: Any = None
    start_from_trigger: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _apply_default_args(cls.__dict__["__init__"])

    def __init__(
        self,
        *,
        task_id: str,
        owner: str = "airflow",
        email: str | Iterable[str] | None = None,
        email_on_retry: bool = True,
        email_on_failure: bool = True,
        retries: int | None = 0,
        retry_delay: timedelta | float = timedelta(seconds=300),
        retry_exponential_backoff: bool = False,
        max_retry_delay: timedelta | float | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        depends_on_past: bool = False,
        ignore_first_depends_on_past: bool = True,
        wait_for_past_depends_before_skipping: bool = False,
        wait_for_downstream: bool = False,
        dag: DAG | None = None,
        params: dict[str, Any] | None = None,
        default_args: dict[str, Any] | None = None,
        priority_weight: int = 1,
        weight_rule: str = "downstream",
        queue: str = "default",
        pool: str | None = None,
        pool_slots: int = 1,
        sla: timedelta | None = None,
        execution_timeout: timedelta | None = None,
        on_execute_callback: Callable | list[Callable] | None = None,
        on_failure_callback: Callable | list[Callable] | None = None,
        on_success_callback: Callable | list[Callable] | None = None,
        on_retry_callback: Callable | list[Callable] | None = None,
        on_skipped_callback: Callable | list[Callable] | None = None,
        pre_execute: Callable | None = None,
        post_execute: Callable | None = None,
        trigger_rule: str = "all_success",
        resources: dict[str, Any] | None = None,
        run_as_user: str | None = None,
        task_concurrency: int | None = None,
        map_index_template: str | None = None,
        max_active_tis_per_dag: int | None = None,
        max_active_tis_per_dagrun: int | None = None,
        executor: str | None = None,
        executor_config: dict | None = None,
        do_xcom_push: bool = True,
        multiple_outputs: bool = False,
        inlets: Any = None,
        outlets: Any = None,
        task_group: Any = None,
        doc: str | None = None,
        doc_md: str | None = None,
        doc_json: str | None = None,
        doc_yaml: str | None = None,
        doc_rst: str | None = None,
        task_display_name: str | None = None,
        logger_name: str | None = None,
        allow_nested_operators: bool = True,
        **kwargs: Any,
    ):
        if kwargs:
            raise AirflowException(
                f"Invalid arguments were passed to {type(self).__name__} (task_id: {task_id}). "
                f"Invalid arguments were:\n**kwargs: {kwargs}"
            )
        dag = dag or DagContext.current() or (task_group.dag if task_group is not None else None)
        task_group = task_group or TaskGroupContext.current(dag)
        self.task_id = task_group.child_id(task_id) if task_group is not None else task_id
        validate_task_key(self.task_id)
        if task_group is not None:
            task_group.add(self)

        self.owner = owner
        self.email = email
        self.email_on_retry = email_on_retry
        self.email_on_failure = email_on_failure
        if execution_timeout is not None and not isinstance(execution_timeout, timedelta):
            raise ValueError(
                f"execution_timeout must be timedelta object but passed as type: {type(execution_timeout)}"
            )
        self.execution_timeout = execution_timeout
        self.on_execute_callback = on_execute_callback
        self.on_failure_callback = on_failure_callback
        self.on_success_callback = on_success_callback
        self.on_retry_callback = on_retry_callback
        self.on_skipped_callback = on_skipped_callback
        self._pre_execute_hook = pre_execute
        self._post_execute_hook = post_execute
        self.start_date = _aware(start_date)
        self.end_date = _aware(end_date)
        self.executor = executor
        self.executor_config = executor_config or {}
        self.run_as_user = run_as_user
        self.retries = _parse_retries(retries)
        self.queue = queue
        self.pool = "default_pool" if pool is None else pool
        self.pool_slots = pool_slots
        if not isinstance(pool_slots, int) or pool_slots < 1:
            dag_text = f" in dag {dag.dag_id}" if dag is not None else ""
            raise ValueError(f"pool slots for {self.task_id}{dag_text} cannot be less than 1")
        self.sla = sla
        self.trigger_rule = _checked_trigger_rule(trigger_rule, dag, task_id)
        self.depends_on_past = depends_on_past
        self.ignore_first_depends_on_past = ignore_first_depends_on_past
        self.wait_for_past_depends_before_skipping = wait_for_past_depends_before_skipping
        self.wait_for_downstream = wait_for_downstream
        if wait_for_downstream:
            self.depends_on_past = True
        self.retry_delay = _as_timedelta(retry_delay, "retry_delay")
        self.retry_exponential_backoff = retry_exponential_backoff
        self.max_retry_delay = None if max_retry_delay is None else _as_timedelta(max_retry_delay, "max_retry_delay")
        self.params = ParamsDict(params)
        if priority_weight is not None and not isinstance(priority_weight, int):
            raise AirflowException(
                f"`priority_weight` for task '{self.task_id}' only accepts integers, "
                f"received '{type(priority_weight)}'."
            )
        self.priority_weight = priority_weight
        if weight_rule not in WEIGHT_RULES:
            raise ValueError(f"The weight_rule must be one of {sorted(WEIGHT_RULES)}, not {weight_rule!r}")
        self.weight_rule = weight_rule
        self.resources = resources
        if task_concurrency and not max_active_tis_per_dag:
            warn_deprecated("The 'task_concurrency' parameter is deprecated. Please use 'max_active_tis_per_dag'.")
            max_active_tis_per_dag = task_concurrency
        self.max_active_tis_per_dag = max_active_tis_per_dag
        self.max_active_tis_per_dagrun = max_active_tis_per_dagrun
        self.do_xcom_push = do_xcom_push
        self.map_index_template = map_index_template
        self.multiple_outputs = multiple_outputs
        self.doc = doc
        self.doc_md = doc_md
        self.doc_json = doc_json
        self.doc_yaml = doc_yaml
        self.doc_rst = doc_rst
        self.task_display_name = task_display_name or self.task_id
        self.logger_name = logger_name
        self.allow_nested_operators = allow_nested_operators
        self.inlets = _as_list(inlets)
        self.outlets = _as_list(outlets)
        if isinstance(self.template_fields, str):
            self.template_fields = [self.template_fields]
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        self.dag = None
        if dag is not None:
            self._attach(dag)

    def _attach(self, dag: DAG) -> None:
        self.dag = dag
        dag.add_task(self)
        if self.start_date is None:
            self.start_date = dag.start_date
        if self.end_date is None:
            self.end_date = dag.end_date

    # -- identity ------------------------------------------------------------------------------
    @property
    def node_id(self) -> str:
        return self.task_id

    @property
    def label(self) -> str:
        """The task id without its group prefix."""
        group = self.task_group
        if group is not None and group.node_id and group.prefix_group_id:
            return self.task_id[len(group.node_id) + 1 :]
        return self.task_id

    @property
    def dag_id(self) -> str:
        return self.dag.dag_id if self.dag is not None else "_in_memory_dag_"

    def has_dag(self) -> bool:
        return self.dag is not None

    @property
    def task_type(self) -> str:
        return type(self).__name__

    @property
    def operator_name(self) -> str:
        return type(self).__name__

    # -- dependencies --------------------------------------------------------------------------
    @property
    def roots(self) -> list[BaseOperator]:
        return [self]

    @property
    def leaves(self) -> list[BaseOperator]:
        return [self]

    def _set_relatives(self, others: Any, upstream: bool, edge_modifier: Any = None) -> None:
        related: list[BaseOperator] = []
        for node in as_node_list(others):
            if not isinstance(node, DependencyMixin):
                raise relationship_error(node)
            node.update_relative(self, not upstream, edge_modifier=edge_modifier)
            for task in node.leaves if upstream else node.roots:
                if not isinstance(task, BaseOperator):
                    raise relationship_error(task)
                related.append(task)
        dags = {id(task.dag): task.dag for task in [self, *related] if task.dag is not None}
        if len(dags) > 1:
            raise AirflowException(
                f"Tried to set relationships between tasks in more than one DAG: {set(dags.values())}"
            )
        if not dags:
            raise AirflowException(
                "Tried to create relationships between tasks that don't have DAGs yet. "
                f"Set the DAG for at least one task and try again: {[self, *related]}"
            )
        (dag,) = dags.values()
        for task in [self, *related]:
            if task.dag is None:
                task._attach(dag)
        for task in related:
            up, down = (task, self) if upstream else (self, task)
            up.downstream_task_ids.add(down.task_id)
            down.upstream_task_ids.add(up.task_id)
            if edge_modifier is not None:
                edge_modifier.add_edge_info(dag, up.task_id, down.task_id)

    def set_upstream(self, other: Any, edge_modifier: Any = None) -> None:
        self._set_relatives(other, upstream=True, edge_modifier=edge_modifier)

    def set_downstream(self, other: Any, edge_modifier: Any = None) -> None:
        self._set_relatives(other, upstream=False, edge_modifier=edge_modifier)

    @property
    def upstream_list(self) -> list[BaseOperator]:
        if self.dag is None:
            raise AirflowException(f"Operator {self} has not been assigned to a DAG yet")
        return [self.dag.get_task(t) for t in self.upstream_task_ids]

    @property
    def downstream_list(self) -> list[BaseOperator]:
        if self.dag is None:
            raise AirflowException(f"Operator {self} has not been assigned to a DAG yet")
        return [self.dag.get_task(t) for t in self.downstream_task_ids]

    def get_direct_relative_ids(self, upstream: bool = False) -> set[str]:
        return self.upstream_task_ids if upstream else self.downstream_task_ids

    def get_direct_relatives(self, upstream: bool = False) -> list[BaseOperator]:
        return self.upstream_list if upstream else self.downstream_list

    @property
    def output(self) -> Any:
        """An XComArg to this task's return value."""
        from slipstream.sdk.xcom_arg import PlainXComArg

        return PlainXComArg(self)

    # -- mapping (slipstream.sdk.mapping) -----------------------------------------------------------
    is_mapped: ClassVar[bool] = False

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """`Op.partial(task_id=..., **fixed)`, to be completed by `.expand(...)` or `.expand_kwargs(...)`."""
        from slipstream.sdk.mapping import OperatorPartial

        return OperatorPartial(cls, kwargs)

    # -- execution -----------------------------------------------------------------------------
    def execute(self, context: dict[str, Any]) -> Any:
        raise NotImplementedError

    def on_kill(self) -> None:
        """Called when the task is killed (timeout, SIGTERM); operators stop their children here."""

    def defer(self, *, trigger: Any, method_name: str, kwargs: dict[str, Any] | None = None, timeout: Any = None):
        """End this try `deferred` until `trigger` fires; the task resumes in `method_name` (§10)."""
        from slipstream.sdk.exceptions import TaskDeferred

        raise TaskDeferred(trigger=trigger, method_name=method_name, kwargs=kwargs, timeout=timeout)

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"


# BaseOperator itself gets the same construction rules as its subclasses.
BaseOperator.__init__ = _apply_default_args(BaseOperator.__init__)  # type: ignore[method-assign]


def _checked_trigger_rule(trigger_rule: Any, dag: DAG | None, task_id: str) -> str:
    """The rule as a plain string, with Airflow's two deprecated spellings mapped and warned about."""
    if trigger_rule == "dummy":
        warn_deprecated("dummy Trigger Rule is deprecated. Please use `TriggerRule.ALWAYS`.")
        trigger_rule = TriggerRule.ALWAYS
    if trigger_rule == "none_failed_or_skipped":
        warn_deprecated("none_failed_or_skipped Trigger Rule is deprecated. Please use `none_failed_min_one_success`.")
        trigger_rule = TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
    rule = getattr(trigger_rule, "value", trigger_rule)
    if rule not in TRIGGER_RULES:
        allowed = "{" + ", ".join(repr(r) for r in sorted(TRIGGER_RULES)) + "}"
        raise AirflowException(
            f"The trigger_rule must be one of {allowed},'{dag.dag_id if dag else ''}.{task_id}'; "
            f"received '{trigger_rule}'."
        )
    return str(rule)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        return list(value)
    return [value]


class EmptyOperator(BaseOperator):
    """Does nothing; the scheduler marks it success without starting a process, as Airflow does."""

    ui_color = "#e8f7e4"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)

    def execute(self, context: dict[str, Any]) -> None:
        return None


DummyOperator = EmptyOperator


class BashOperator(BaseOperator):
    template_fields = ("bash_command", "env", "cwd")
    template_ext = (".sh", ".bash")
    ui_color = "#f0ede4"

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        append_env: bool = False,
        output_encoding: str = "utf-8",
        skip_exit_code: int | None = None,
        skip_on_exit_code: int | Container[int] | None = 99,
        cwd: str | None = None,
        output_processor: Callable[[str], Any] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if skip_exit_code is not None:
            warn_deprecated("skip_exit_code is deprecated. Please use skip_on_exit_code", DeprecationWarning)
            skip_on_exit_code = skip_exit_code
        from slipstream.sdk.xcom_arg import Resolvable

        if not isinstance(bash_command, (str, Resolvable)):  # an XComArg is rendered to the command
            raise TypeError("bash_command must be a string")
        self.bash_command = bash_command
        self.env = env
        self.append_env = append_env
        self.output_encoding = output_encoding
        self.skip_on_exit_code = (
            skip_on_exit_code
            if isinstance(skip_on_exit_code, Container) or skip_on_exit_code is None
            else [skip_on_exit_code]
        )
        self.cwd = cwd
        # Applied to the last output line, the task's result (Airflow's default returns it unchanged).
        self.output_processor = output_processor
        self._process: subprocess.Popen | None = None

    def _environment(self) -> dict[str, str]:
        base = dict(os.environ) if self.env is None or self.append_env else {}
        if self.env is not None:
            base.update({str(k): str(v) for k, v in self.env.items()})
        # The task context variables are always added, whatever env says.
        base.update({k: v for k, v in os.environ.items() if k.startswith(("AIRFLOW_CTX_", "SLIPSTREAM_CTX_"))})
        return base

    def execute(self, context: dict[str, Any]) -> str:
        bash = shutil.which("bash") or "/bin/bash"
        if self.cwd is not None:
            if not os.path.exists(self.cwd):
                raise AirflowException(f"Can not find the cwd: {self.cwd}")
            if not os.path.isdir(self.cwd):
                raise AirflowException(f"The cwd {self.cwd} must be a directory")
        with tempfile.TemporaryDirectory(prefix="slipstreamtmp") as tmp_dir:
            self._process = subprocess.Popen(
                [bash, "-c", self.bash_command],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=self.cwd or tmp_dir,
                env=self._environment(),
                start_new_session=True,
            )
            last_line = ""
            assert self._process.stdout is not None
            for raw in iter(self._process.stdout.readline, b""):
                last_line = raw.decode(self.output_encoding, "backslashreplace").rstrip()
                print(last_line, flush=True)
            returncode = self._process.wait()
        if self.skip_on_exit_code is not None and returncode in self.skip_on_exit_code:
            raise AirflowSkipException(f"Bash command returned exit code {returncode}. Skipping.")
        if returncode != 0:
            raise AirflowException(f"Bash command failed. The command returned a non-zero exit code {returncode}.")
        return self.output_processor(last_line) if self.output_processor is not None else last_line

    def on_kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            try:
                os.killpg(os.getpgid(self._process.pid), signal.SIGTERM)
            except ProcessLookupError:
                pass


class PythonOperator(BaseOperator):
    template_fields = ("templates_dict", "op_args", "op_kwargs")
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        python_callable: Callable,
        op_args: Sequence[Any] | None = None,
        op_kwargs: dict[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        templates_exts: Sequence[str] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ):
        if kwargs.get("provide_context"):
            # Airflow 1's flag: the context is always provided now. A falsy value is refused below, as there.
            warn_deprecated("provide_context is deprecated as of 2.0 and is no longer required")
            kwargs.pop("provide_context")
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise AirflowException("`python_callable` param must be callable")
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict
        if templates_exts:
            # Strings in templates_dict ending in these are template files.
            self.template_ext = templates_exts
        self.show_return_value_in_logs = show_return_value_in_logs

    def execute(self, context: dict[str, Any]) -> Any:
        context = {**context, **self.op_kwargs, "templates_dict": self.templates_dict}
        kwargs = determine_kwargs(self.python_callable, self.op_args, context)
        # A generator function's yielded Metadata feed its outlets' events (task-model §13).
        result = run_collecting_metadata(self.python_callable, self.op_args, kwargs, context)
        if self.show_return_value_in_logs:
            print(f"Done. Returned value was: {result}", flush=True)
        return result


def determine_kwargs(func: Callable, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Airflow's rule: everything for a **kwargs callable, else only the keys it names."""
    signature = inspect.signature(func)
    has_var_keyword = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
    positional = [
        name for name, p in signature.parameters.items() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    for name in positional[: len(args)]:
        if name in kwargs:
            raise ValueError(f"The key {name!r} in args is a part of kwargs and therefore reserved.")
    if has_var_keyword:
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k in signature.parameters}

"""Operators: BaseOperator with Airflow's task arguments, and Bash, Python and Empty operators."""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Container, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from slipstream.sdk.dag import DAG, DagContext, _aware
from slipstream.sdk.exceptions import AirflowException, AirflowSkipException

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


def _apply_default_args(init: Callable) -> Callable:
    """Fill arguments the caller left out from the DAG's (and the call's) default_args, as Airflow does."""

    @functools.wraps(init)
    def wrapper(self: BaseOperator, *args: Any, **kwargs: Any) -> None:
        if getattr(self, "_defaults_applied", False):
            return init(self, *args, **kwargs)
        self._defaults_applied = True
        dag = kwargs.get("dag") or DagContext.current()
        defaults: dict[str, Any] = dict(dag.default_args) if dag is not None else {}
        defaults.update(kwargs.pop("default_args", None) or {})
        accepted = _init_parameters(type(self))
        for key, value in defaults.items():
            if key in accepted and key not in kwargs:
                kwargs[key] = value
        return init(self, *args, **kwargs)

    return wrapper


class BaseOperator:
    template_fields: ClassVar[Sequence[str]] = ()
    template_ext: ClassVar[Sequence[str]] = ()
    ui_color: ClassVar[str] = "#fff"
    ui_fgcolor: ClassVar[str] = "#000"

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
        execution_timeout: timedelta | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        depends_on_past: bool = False,
        pool: str | None = None,
        pool_slots: int = 1,
        priority_weight: int = 1,
        weight_rule: str = "downstream",
        queue: str = "default",
        trigger_rule: str = "all_success",
        inlets: Any = None,
        outlets: Any = None,
        doc_md: str | None = None,
        params: dict[str, Any] | None = None,
        do_xcom_push: bool = True,
        dag: DAG | None = None,
        on_success_callback: Callable | None = None,
        on_failure_callback: Callable | None = None,
        on_retry_callback: Callable | None = None,
        executor_config: dict | None = None,
        **kwargs: Any,
    ):
        if kwargs:
            raise TypeError(
                f"Invalid arguments were passed to {type(self).__name__} (task_id: {task_id}): "
                f"{', '.join(sorted(kwargs))}"
            )
        if not isinstance(task_id, str) or not task_id:
            raise ValueError("task_id must be a non-empty string")
        if trigger_rule not in TRIGGER_RULES:
            raise ValueError(f"The trigger_rule must be one of {sorted(TRIGGER_RULES)}, not {trigger_rule!r}")
        if weight_rule not in WEIGHT_RULES:
            raise ValueError(f"The weight_rule must be one of {sorted(WEIGHT_RULES)}, not {weight_rule!r}")
        if not isinstance(pool_slots, int) or pool_slots < 1:
            raise ValueError(f"pool slots for {task_id} cannot be less than 1")
        self.task_id = task_id
        self.owner = owner
        self.email = email
        self.email_on_retry = email_on_retry
        self.email_on_failure = email_on_failure
        self.retries = int(retries or 0)
        self.retry_delay = retry_delay if isinstance(retry_delay, timedelta) else timedelta(seconds=retry_delay)
        self.retry_exponential_backoff = retry_exponential_backoff
        if max_retry_delay is not None and not isinstance(max_retry_delay, timedelta):
            max_retry_delay = timedelta(seconds=max_retry_delay)
        self.max_retry_delay = max_retry_delay
        if execution_timeout is not None and not isinstance(execution_timeout, timedelta):
            raise TypeError("execution_timeout must be a datetime.timedelta")
        self.execution_timeout = execution_timeout
        self.start_date = _aware(start_date)
        self.end_date = _aware(end_date)
        self.depends_on_past = depends_on_past
        self.pool = pool or "default_pool"
        self.pool_slots = pool_slots
        self.priority_weight = int(priority_weight)
        self.weight_rule = weight_rule
        self.queue = queue
        self.trigger_rule = trigger_rule
        self.inlets = _as_list(inlets)
        self.outlets = _as_list(outlets)
        self.doc_md = doc_md
        self.params = dict(params or {})
        self.do_xcom_push = do_xcom_push
        self.on_success_callback = on_success_callback
        self.on_failure_callback = on_failure_callback
        self.on_retry_callback = on_retry_callback
        self.executor_config = executor_config or {}
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        self.dag: DAG | None = None
        dag = dag or DagContext.current()
        if dag is not None:
            self._attach(dag)

    def _attach(self, dag: DAG) -> None:
        self.dag = dag
        dag.add_task(self)
        if self.start_date is None:
            self.start_date = dag.start_date
        if self.end_date is None:
            self.end_date = dag.end_date

    # -- dependencies --------------------------------------------------------------------------
    def _relate(self, others: BaseOperator | Iterable[BaseOperator], upstream: bool) -> None:
        for other in [others] if isinstance(others, BaseOperator) else list(others):
            if not isinstance(other, BaseOperator):
                raise TypeError(f"Relationships can only be set between operators; received {other!r}")
            dag = self.dag or other.dag
            if dag is None:
                raise AirflowException(f"Tried to create relationships between tasks that have no DAG: {self}")
            for task in (self, other):
                if task.dag is None:
                    task._attach(dag)
            if self.dag is not other.dag:
                raise AirflowException("Tried to set relationships between tasks in more than one DAG")
            if upstream:
                self.upstream_task_ids.add(other.task_id)
                other.downstream_task_ids.add(self.task_id)
            else:
                self.downstream_task_ids.add(other.task_id)
                other.upstream_task_ids.add(self.task_id)

    def set_upstream(self, others: BaseOperator | Iterable[BaseOperator]) -> None:
        self._relate(others, upstream=True)

    def set_downstream(self, others: BaseOperator | Iterable[BaseOperator]) -> None:
        self._relate(others, upstream=False)

    def __rshift__(self, other):
        self.set_downstream(other)
        return other

    def __lshift__(self, other):
        self.set_upstream(other)
        return other

    def __rrshift__(self, other):
        # [a, b] >> self
        self.set_upstream(other)
        return self

    def __rlshift__(self, other):
        # [a, b] << self
        self.set_downstream(other)
        return self

    # -- execution -----------------------------------------------------------------------------
    def execute(self, context: dict[str, Any]) -> Any:
        raise NotImplementedError

    def on_kill(self) -> None:
        """Called when the task is killed (timeout, SIGTERM); operators stop their children here."""

    @property
    def operator_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"


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
        skip_on_exit_code: int | Container[int] | None = 99,
        cwd: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if not isinstance(bash_command, str):
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
        return last_line

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
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise AirflowException("`python_callable` param must be callable")
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict
        self.show_return_value_in_logs = show_return_value_in_logs

    def execute(self, context: dict[str, Any]) -> Any:
        context = {**context, **self.op_kwargs, "templates_dict": self.templates_dict}
        kwargs = determine_kwargs(self.python_callable, self.op_args, context)
        result = self.python_callable(*self.op_args, **kwargs)
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

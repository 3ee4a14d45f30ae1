"""`DAG`: a named graph of tasks with a schedule, shaped like Airflow's so DAG files port by changing imports."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slipstream.sdk.deprecation import warn_deprecated
from slipstream.sdk.exceptions import AirflowException, DuplicateTaskIdFound
from slipstream.sdk.params import ParamsDict, check_param_schemas, check_schedule_and_params
from slipstream.sdk.schedule import NOTSET, normalize_schedule
from slipstream.sdk.task_group import TaskGroup, TaskGroupContext, validate_task_key

if TYPE_CHECKING:
    from slipstream.sdk.operators import BaseOperator

TAG_MAX_LENGTH = 100
DEFAULT_VIEWS = {"grid", "graph", "duration", "gantt", "landing_times"}
ORIENTATIONS = ("LR", "TB", "RL", "BT")


class DagContext:
    """The DAGs opened with `with DAG(...)`, innermost last; operators created inside join it."""

    _stack: list[DAG] = []

    @classmethod
    def push(cls, dag: DAG) -> None:
        cls._stack.append(dag)

    @classmethod
    def pop(cls) -> None:
        cls._stack.pop()

    @classmethod
    def current(cls) -> DAG | None:
        return cls._stack[-1] if cls._stack else None


def _caller_file() -> str:
    """The file of the first frame outside the SDK: the DAG file that built this DAG."""
    sdk_dir = str(Path(__file__).parent)
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(sdk_dir):
            return filename
        frame = frame.f_back
    return ""


class DAG:
    """An Airflow 2.10.5 DAG: every argument Airflow's DAG takes is accepted and stored; the README lists
    the ones with no effect here. An unknown argument is a TypeError, as for any Python call."""

    def __init__(
        self,
        dag_id: str,
        description: str | None = None,
        schedule: Any = NOTSET,
        schedule_interval: Any = NOTSET,
        timetable: Any = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        full_filepath: str | None = None,
        template_searchpath: str | Iterable[str] | None = None,
        template_undefined: type | None = None,
        user_defined_macros: dict[str, Any] | None = None,
        user_defined_filters: dict[str, Any] | None = None,
        default_args: dict[str, Any] | None = None,
        concurrency: int | None = None,
        max_active_tasks: int = 16,
        max_active_runs: int = 16,
        max_consecutive_failed_dag_runs: int = 0,
        dagrun_timeout: timedelta | None = None,
        sla_miss_callback: Any = None,
        default_view: str = "grid",
        orientation: str = "LR",
        catchup: bool = True,
        on_success_callback: Any = None,
        on_failure_callback: Any = None,
        doc_md: str | None = None,
        params: dict[str, Any] | None = None,
        access_control: dict | None = None,
        is_paused_upon_creation: bool | None = None,
        jinja_environment_kwargs: dict[str, Any] | None = None,
        render_template_as_native_obj: bool = False,
        tags: list[str] | None = None,
        owner_links: dict[str, str] | None = None,
        auto_register: bool = True,
        fail_stop: bool = False,
        dag_display_name: str | None = None,
    ):
        validate_task_key(dag_id)
        if default_args is not None and not isinstance(default_args, dict):
            raise TypeError("default_args must be a dict")
        if tags and any(len(tag) > TAG_MAX_LENGTH for tag in tags):
            raise AirflowException(f"tag cannot be longer than {TAG_MAX_LENGTH} characters")
        if full_filepath:
            warn_deprecated("Passing full_filepath to DAG() is deprecated and has no effect")
        self.dag_id = dag_id
        self.dag_display_name = dag_display_name or dag_id
        self.description = description
        given = [arg for arg in (schedule, schedule_interval, timetable) if arg is not NOTSET and arg is not None]
        if len(given) > 1:
            raise ValueError("At most one allowed for args 'schedule_interval', 'timetable', and 'schedule'.")
        if schedule_interval is not NOTSET:
            warn_deprecated(
                "Param `schedule_interval` is deprecated and will be removed in a future release. "
                "Please use `schedule` instead. "
            )
            schedule = schedule_interval
        if timetable is not None:
            warn_deprecated(
                "Param `timetable` is deprecated and will be removed in a future release. "
                "Please use `schedule` instead. "
            )
            schedule = timetable
        self.schedule = normalize_schedule(schedule)
        self.default_args: dict[str, Any] = dict(default_args or {})
        self.start_date = _aware(start_date or self.default_args.get("start_date"))
        self.end_date = _aware(end_date or self.default_args.get("end_date"))
        if isinstance(template_searchpath, str):
            template_searchpath = [template_searchpath]
        self.template_searchpath = list(template_searchpath) if template_searchpath is not None else None
        self.template_undefined = template_undefined
        self.user_defined_macros = user_defined_macros
        self.user_defined_filters = user_defined_filters
        self.jinja_environment_kwargs = jinja_environment_kwargs
        self.render_template_as_native_obj = render_template_as_native_obj
        self.catchup = catchup
        self.max_active_runs = max_active_runs
        if concurrency:
            warn_deprecated("The 'concurrency' parameter is deprecated. Please use 'max_active_tasks'.")
            max_active_tasks = concurrency
        self.max_active_tasks = max_active_tasks
        if max_consecutive_failed_dag_runs < 0:
            raise AirflowException(
                f"Invalid max_consecutive_failed_dag_runs: {max_consecutive_failed_dag_runs}."
                "Requires max_consecutive_failed_dag_runs >= 0"
            )
        self.max_consecutive_failed_dag_runs = max_consecutive_failed_dag_runs
        if dagrun_timeout is not None and not isinstance(dagrun_timeout, timedelta):
            raise TypeError("dagrun_timeout must be a datetime.timedelta")
        self.dagrun_timeout = dagrun_timeout
        self.sla_miss_callback = sla_miss_callback
        if default_view == "tree":
            warn_deprecated("`default_view` of 'tree' has been renamed to 'grid' -- please update your DAG")
            default_view = "grid"
        if default_view not in DEFAULT_VIEWS:
            raise AirflowException(
                f"Invalid values of dag.default_view: only support {DEFAULT_VIEWS}, but get {default_view}"
            )
        self.default_view = default_view
        if orientation not in ORIENTATIONS:
            raise AirflowException(
                f"Invalid values of dag.orientation: only support {ORIENTATIONS}, but get {orientation}"
            )
        self.orientation = orientation
        self.on_success_callback = on_success_callback
        self.on_failure_callback = on_failure_callback
        # Params: values or Params; default_args["params"] win, as in Airflow. A scheduled DAG's
        # params must all have valid defaults (an import error otherwise).
        self.params = ParamsDict(params)
        self.params.update(self.default_args.pop("params", None) or {})
        check_param_schemas(self.params)
        check_schedule_and_params(self)
        self.access_control = access_control
        self.tags = list(tags or [])
        self.owner_links = dict(owner_links or {})
        self.doc_md = doc_md
        self.is_paused_upon_creation = is_paused_upon_creation
        self.auto_register = auto_register
        self.fail_stop = fail_stop
        self.fileloc = _caller_file()
        self.task_dict: dict[str, BaseOperator] = {}
        # Labels on edges: edge_info[upstream_id][downstream_id] = {"label": ...}; no effect on scheduling.
        self.edge_info: dict[str, dict[str, dict[str, Any]]] = {}
        self._task_group = TaskGroup.create_root(self)

    # -- context manager ---------------------------------------------------------------------
    def __enter__(self) -> DAG:
        DagContext.push(self)
        return self

    def __exit__(self, *exc: object) -> None:
        DagContext.pop()

    # -- tasks -------------------------------------------------------------------------------
    @property
    def task_group(self):
        """The root group: every top-level task and group of this DAG is its child."""
        return self._task_group

    @property
    def task_group_dict(self):
        return {k: v for k, v in self._task_group.get_task_group_dict().items() if k is not None}

    def add_task(self, task: BaseOperator) -> None:
        if task.task_group is None:
            group = TaskGroupContext.current(self)
            if group is not None:
                group.add(task)
        task_id = task.task_id
        if (task_id in self.task_dict and self.task_dict[task_id] is not task) or (
            task_id in self._task_group.used_group_ids and self.task_dict.get(task_id) is not task
        ):
            raise DuplicateTaskIdFound(f"Task id '{task_id}' has already been added to the DAG")
        self.task_dict[task_id] = task
        # Task ids and group ids share one namespace.
        self._task_group.used_group_ids.add(task_id)

    def add_tasks(self, tasks: Iterable[BaseOperator]) -> None:
        for task in tasks:
            task._attach(self) if task.dag is None else self.add_task(task)

    def set_edge_info(self, upstream_task_id: str, downstream_task_id: str, info: dict[str, Any]) -> None:
        self.edge_info.setdefault(upstream_task_id, {})[downstream_task_id] = info

    def get_edge_info(self, upstream_task_id: str, downstream_task_id: str) -> dict[str, Any]:
        return self.edge_info.get(upstream_task_id, {}).get(downstream_task_id, {})

    @property
    def tasks(self) -> list[BaseOperator]:
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        return list(self.task_dict)

    def has_task(self, task_id: str) -> bool:
        return task_id in self.task_dict

    def get_task(self, task_id: str) -> BaseOperator:
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise KeyError(f"Task {task_id} not found in dag {self.dag_id}") from None

    @property
    def roots(self) -> list[BaseOperator]:
        return [t for t in self.tasks if not t.upstream_task_ids]

    @property
    def leaves(self) -> list[BaseOperator]:
        return [t for t in self.tasks if not t.downstream_task_ids]

    @property
    def folder(self) -> str:
        """The folder of the DAG file: the first place templates are looked up."""
        return os.path.dirname(self.fileloc)

    def __repr__(self) -> str:
        return f"<DAG: {self.dag_id}>"


def _aware(value: datetime | None) -> datetime | None:
    """Naive start/end dates mean UTC, as in Airflow with the default timezone."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {value!r}")
    if value.tzinfo is None:
        from datetime import UTC

        return value.replace(tzinfo=UTC)
    return value

"""`DAG`: a named graph of tasks with a schedule, shaped like Airflow's so DAG files port by changing imports."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slipstream.sdk.schedule import NOTSET, normalize_schedule

if TYPE_CHECKING:
    from slipstream.sdk.operators import BaseOperator


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
    def __init__(
        self,
        dag_id: str,
        description: str | None = None,
        schedule: Any = NOTSET,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        default_args: dict[str, Any] | None = None,
        catchup: bool = True,
        max_active_runs: int = 16,
        max_active_tasks: int = 16,
        dagrun_timeout: timedelta | None = None,
        params: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        doc_md: str | None = None,
        schedule_interval: Any = NOTSET,
        is_paused_upon_creation: bool | None = None,
        **_ignored: Any,
    ):
        if not isinstance(dag_id, str) or not dag_id:
            raise ValueError("dag_id must be a non-empty string")
        self.dag_id = dag_id
        self.description = description
        if schedule is NOTSET and schedule_interval is not NOTSET:
            schedule = schedule_interval
        self.schedule = normalize_schedule(schedule)
        self.default_args: dict[str, Any] = dict(default_args or {})
        self.start_date = _aware(start_date or self.default_args.get("start_date"))
        self.end_date = _aware(end_date or self.default_args.get("end_date"))
        self.catchup = catchup
        self.max_active_runs = max_active_runs
        self.max_active_tasks = max_active_tasks
        if dagrun_timeout is not None and not isinstance(dagrun_timeout, timedelta):
            raise TypeError("dagrun_timeout must be a datetime.timedelta")
        self.dagrun_timeout = dagrun_timeout
        self.params: dict[str, Any] = dict(params or {})
        self.tags = list(tags or [])
        self.doc_md = doc_md
        self.is_paused_upon_creation = is_paused_upon_creation
        self.fileloc = _caller_file()
        self.task_dict: dict[str, BaseOperator] = {}

    # -- context manager ---------------------------------------------------------------------
    def __enter__(self) -> DAG:
        DagContext.push(self)
        return self

    def __exit__(self, *exc: object) -> None:
        DagContext.pop()

    # -- tasks -------------------------------------------------------------------------------
    def add_task(self, task: BaseOperator) -> None:
        if task.task_id in self.task_dict and self.task_dict[task.task_id] is not task:
            raise ValueError(f"Task id '{task.task_id}' has already been added to the DAG {self.dag_id}")
        self.task_dict[task.task_id] = task

    @property
    def tasks(self) -> list[BaseOperator]:
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        return list(self.task_dict)

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

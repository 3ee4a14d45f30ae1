"""ExternalTaskSensor (wait for tasks, a task group or a whole run of another DAG) and ExternalTaskMarker."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable
from typing import Any

from slipstream.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from slipstream.sdk.operators import EmptyOperator, determine_kwargs
from slipstream.sdk.sensors.base import BaseSensorOperator
from slipstream.states import DAG_RUN_STATES, TaskInstanceState


def _ti_states() -> set[str]:
    return {s.value for s in TaskInstanceState}


class ExternalTaskSensor(BaseSensorOperator):
    template_fields = ("external_dag_id", "external_task_id", "external_task_ids", "external_task_group_id")
    ui_color = "#4db7db"

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str | None = None,
        external_task_ids: Collection[str] | None = None,
        external_task_group_id: str | None = None,
        allowed_states: Iterable[str] | None = None,
        skipped_states: Iterable[str] | None = None,
        failed_states: Iterable[str] | None = None,
        execution_delta: dt.timedelta | None = None,
        execution_date_fn: Callable | None = None,
        check_existence: bool = False,
        poll_interval: float = 2.0,
        deferrable: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.allowed_states = [str(s) for s in (allowed_states or ["success"])]
        self.skipped_states = [str(s) for s in (skipped_states or [])]
        self.failed_states = [str(s) for s in (failed_states or [])]
        total = self.allowed_states + self.skipped_states + self.failed_states
        if len(total) != len(set(total)):
            raise AirflowException("Duplicate values provided across allowed_states, skipped_states and failed_states.")
        if external_task_id is not None and external_task_ids is not None:
            raise ValueError(
                "Only one of `external_task_id` or `external_task_ids` may be provided to ExternalTaskSensor; "
                "please use external_task_ids."
            )
        if external_task_id is not None:
            external_task_ids = [external_task_id]
        if external_task_group_id is not None and external_task_ids is not None:
            raise ValueError(
                "Only one of `external_task_group_id` or `external_task_ids` may be provided to "
                "ExternalTaskSensor; please specify only one of them."
            )
        if external_task_ids or external_task_group_id:
            valid, kind = _ti_states(), "task"
        else:
            valid, kind = set(DAG_RUN_STATES), "dag"
        if not set(total) <= valid:
            raise ValueError(
                f"Valid values for `allowed_states`, `skipped_states` and `failed_states` when "
                f"`external_task_id` or `external_task_ids` or `external_task_group_id` is "
                f"{'not ' if kind == 'dag' else ''}`None`: {sorted(valid)}"
            )
        if external_task_ids and len(external_task_ids) > len(set(external_task_ids)):
            raise ValueError("Duplicate task_ids passed in external_task_ids parameter")
        if execution_delta is not None and execution_date_fn is not None:
            raise ValueError(
                "Only one of `execution_delta` or `execution_date_fn` may be provided to ExternalTaskSensor; not both."
            )
        self.execution_delta = execution_delta
        self.execution_date_fn = execution_date_fn
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids = list(external_task_ids) if external_task_ids else None
        self.external_task_group_id = external_task_group_id
        self.check_existence = check_existence
        self.poll_interval = poll_interval
        self.deferrable = deferrable

    def _dates(self, context: dict[str, Any]) -> list[dt.datetime]:
        logical_date = context["logical_date"]
        if self.execution_delta is not None:
            return [logical_date - self.execution_delta]
        if self.execution_date_fn is not None:
            fn = self.execution_date_fn
            result = fn(logical_date, **determine_kwargs(fn, [logical_date], context))
            return list(result) if isinstance(result, (list, tuple)) else [result]
        return [logical_date]

    def poke(self, context: dict[str, Any]) -> bool:
        dates = self._dates(context)
        serialized = ",".join(d.isoformat() for d in dates)
        target = (
            f"{self.external_task_ids} "
            if self.external_task_ids
            else f"task group {self.external_task_group_id} "
            if self.external_task_group_id
            else ""
        )
        print(f"Poking for {target}in DAG {self.external_dag_id} on {serialized} ... ", flush=True)
        if self.check_existence:
            self._check_existence()
        if self.failed_states and self._count(dates, self.failed_states) > 0:
            if self.external_task_ids:
                message = f"Some of the external tasks {self.external_task_ids} in DAG {self.external_dag_id} failed."
            elif self.external_task_group_id:
                message = (
                    f"The external task_group '{self.external_task_group_id}' in DAG '{self.external_dag_id}' failed."
                )
            else:
                message = f"The external DAG {self.external_dag_id} failed."
            if self.soft_fail:
                raise AirflowSkipException(f"{message} Skipping due to soft_fail.")
            raise AirflowException(message)
        if self.skipped_states and self._count(dates, self.skipped_states) > 0:
            if self.external_task_ids:
                what = f"Some of the external tasks {self.external_task_ids} in DAG {self.external_dag_id}"
            elif self.external_task_group_id:
                what = f"The external task_group '{self.external_task_group_id}' in DAG {self.external_dag_id}"
            else:
                what = f"The external DAG {self.external_dag_id}"
            raise AirflowSkipException(f"{what} reached a state in our states-to-skip-on list. Skipping.")
        return self._count(dates, self.allowed_states) == len(dates) * self._expected_per_date(dates)

    def _expected_per_date(self, dates: list[dt.datetime]) -> int:
        if self.external_task_ids:
            return len(self.external_task_ids)
        if self.external_task_group_id:
            return max(1, len(self._group_task_ids()))
        return 1

    def _group_task_ids(self) -> list[str]:
        from sqlalchemy import select

        from slipstream.sdk import runtime
        from slipstream.storage.models import SerializedDagModel

        with runtime.read_session() as session:
            data = session.scalar(
                select(SerializedDagModel.data).where(SerializedDagModel.dag_id == self.external_dag_id)
            )
        tasks = (data or {}).get("tasks") or {}
        prefix = f"{self.external_task_group_id}."
        return [t for t in tasks if t.startswith(prefix)]

    def _check_existence(self) -> None:
        from sqlalchemy import select

        from slipstream.sdk import runtime
        from slipstream.storage.models import DagModel, SerializedDagModel

        with runtime.read_session() as session:
            if session.get(DagModel, self.external_dag_id) is None:
                raise AirflowFailException(f"The external DAG {self.external_dag_id} does not exist.")
            data = session.scalar(
                select(SerializedDagModel.data).where(SerializedDagModel.dag_id == self.external_dag_id)
            )
        tasks = (data or {}).get("tasks") or {}
        for task_id in self.external_task_ids or []:
            if task_id not in tasks:
                raise AirflowFailException(f"The external task {task_id} in DAG {self.external_dag_id} does not exist.")

    def _count(self, dates: list[dt.datetime], states: list[str]) -> int:
        return count_in_states(self.external_dag_id, self.external_task_ids, self.external_task_group_id, dates, states)

    def execute(self, context: dict[str, Any]) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from slipstream.sdk.triggers.external_task import WorkflowTrigger

        dates = self._dates(context)
        self.defer(
            trigger=WorkflowTrigger(
                external_dag_id=self.external_dag_id,
                execution_dates=dates,
                expected_count=len(dates) * self._expected_per_date(dates),
                external_task_ids=self.external_task_ids,
                external_task_group_id=self.external_task_group_id,
                allowed_states=self.allowed_states,
                failed_states=self.failed_states,
                skipped_states=self.skipped_states,
                poke_interval=self.poll_interval,
            ),
            method_name="execute_complete",
            timeout=self.execution_timeout,
        )

    def execute_complete(self, context: dict[str, Any], event: Any = None) -> None:
        status = (event or {}).get("status")
        if status == "success":
            print(f"External tasks {self.external_task_ids} has executed successfully.", flush=True)
            return
        if status == "skipped":
            raise AirflowSkipException("External job has skipped skipping.")
        if self.soft_fail:
            raise AirflowSkipException("External job has failed skipping.")
        raise AirflowException(
            "Error occurred while trying to retrieve task status. Please, check the name of executed task and Dag."
        )


def count_in_states(
    dag_id: str, task_ids: list[str] | None, group_id: str | None, dates: list[dt.datetime], states: list[str]
) -> int:
    """Task instances (of the tasks or the group) or else DAG runs of `dag_id` at `dates` in `states`."""
    from sqlalchemy import func, select

    from slipstream.sdk import metastore
    from slipstream.storage.models import DagRun, TaskInstance

    with metastore.read_session() as session:
        if task_ids or group_id:
            query = (
                select(func.count())
                .select_from(TaskInstance)
                .join(DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id))
                .where(TaskInstance.dag_id == dag_id, DagRun.execution_date.in_(dates), TaskInstance.state.in_(states))
            )
            if task_ids:
                query = query.where(TaskInstance.task_id.in_(task_ids))
            else:
                query = query.where(TaskInstance.task_id.like(f"{group_id}.%"))
            return int(session.scalar(query) or 0)
        query = (
            select(func.count())
            .select_from(DagRun)
            .where(DagRun.dag_id == dag_id, DagRun.execution_date.in_(dates), DagRun.state.in_(states))
        )
        return int(session.scalar(query) or 0)


class ExternalTaskMarker(EmptyOperator):
    """Marks a dependency on a task of another DAG: clearing this task recursively clears that one too."""

    template_fields = ("external_dag_id", "external_task_id", "execution_date")
    ui_color = "#4db7db"

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str,
        execution_date: str | dt.datetime | None = "{{ logical_date.isoformat() }}",
        recursion_depth: int = 10,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        if isinstance(execution_date, dt.datetime):
            self.execution_date = execution_date.isoformat()
        elif isinstance(execution_date, str):
            self.execution_date = execution_date
        else:
            raise TypeError(f"Expected str or datetime.datetime type for execution_date.Got {type(execution_date)}")
        if recursion_depth <= 0:
            raise ValueError("recursion_depth should be a positive integer")
        self.recursion_depth = recursion_depth

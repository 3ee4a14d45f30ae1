"""The Airflow task context (engine-semantics §7) and the AIRFLOW_CTX_* environment of a task process."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pendulum

from slipstream.sdk import macros as MACROS  # noqa: N812 - the template name
from slipstream.sdk.connections import ConnectionAccessor
from slipstream.sdk.params import process_params
from slipstream.sdk.variables import VariableAccessor


def as_pendulum(value: datetime | None) -> pendulum.DateTime | None:
    return None if value is None else pendulum.instance(value, tz="UTC").in_timezone("UTC")


@dataclass
class DagRunView:
    """The running DAG run as tasks see it (`dag_run` in the context)."""

    dag_id: str
    run_id: str
    conf: dict[str, Any]
    logical_date: pendulum.DateTime
    data_interval_start: pendulum.DateTime | None
    data_interval_end: pendulum.DateTime | None
    run_type: str
    external_trigger: bool
    start_date: pendulum.DateTime | None
    queued_at: pendulum.DateTime | None
    state: str = "running"

    @property
    def execution_date(self) -> pendulum.DateTime:
        return self.logical_date

    def __repr__(self) -> str:
        return (
            f"<DagRun {self.dag_id} @ {self.logical_date}: {self.run_id}, state:{self.state}, "
            f"queued_at: {self.queued_at}. externally triggered: {self.external_trigger}>"
        )


@dataclass
class TaskInstanceView:
    """The task instance as tasks see it (`ti` / `task_instance` in the context)."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int
    max_tries: int
    logical_date: pendulum.DateTime
    start_date: pendulum.DateTime | None
    hostname: str
    unixname: str
    pid: int
    pool: str
    queue: str
    priority_weight: int
    task: Any = None
    dag_run: DagRunView | None = None
    state: str = "running"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def execution_date(self) -> pendulum.DateTime:
        return self.logical_date

    @property
    def key(self) -> tuple[str, str, str, int, int]:
        return (self.dag_id, self.task_id, self.run_id, self.try_number, self.map_index)

    def get_dagrun(self) -> DagRunView | None:
        return self.dag_run

    def xcom_push(self, key: str, value: Any, execution_date: Any = None, session: Any = None) -> None:
        from slipstream.sdk import xcom

        xcom.push(self, key, value)

    def xcom_pull(
        self,
        task_ids: Any = None,
        dag_id: str | None = None,
        key: str | None = "return_value",
        include_prior_dates: bool = False,
        session: Any = None,
        *,
        map_indexes: Any = None,
        default: Any = None,
    ) -> Any:
        from slipstream.sdk import xcom

        return xcom.pull(self, task_ids, dag_id, key, include_prior_dates, map_indexes=map_indexes, default=default)

    def __repr__(self) -> str:
        return f"<TaskInstance: {self.dag_id}.{self.task_id} {self.run_id} [{self.state}]>"


@dataclass(frozen=True)
class PreviousSuccess:
    """The latest earlier successful run of the DAG, for the prev_*_success keys."""

    logical_date: datetime | None = None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None


def build_context(
    *,
    dag: Any,
    task: Any,
    ti: TaskInstanceView,
    dag_run: DagRunView,
    previous_success: PreviousSuccess,
    settings: Any,
) -> dict[str, Any]:
    logical = dag_run.logical_date
    ds = logical.strftime("%Y-%m-%d")
    ds_nodash = ds.replace("-", "")
    if dag_run.external_trigger or dag_run.data_interval_start is None or dag_run.data_interval_end is None:
        # Deprecated keys: for manual runs Airflow gives the logical date for both.
        prev_execution, next_execution = logical, logical
    else:
        span = dag_run.data_interval_end - dag_run.data_interval_start
        prev_execution, next_execution = logical - span, dag_run.data_interval_end
    # DAG params < task params < conf (unless the setting says no), validated: a broken one fails the try.
    params = process_params(
        dag, task, dag_run.conf, conf_overrides_params=getattr(settings, "dag_run_conf_overrides_params", True)
    )
    return {
        "conf": settings,
        "dag": dag,
        "dag_run": dag_run,
        "data_interval_start": dag_run.data_interval_start,
        "data_interval_end": dag_run.data_interval_end,
        "ds": ds,
        "ds_nodash": ds_nodash,
        "execution_date": logical,
        "expanded_ti_count": None,
        "inlets": list(getattr(task, "inlets", []) or []),
        "outlets": list(getattr(task, "outlets", []) or []),
        "logical_date": logical,
        "macros": MACROS,
        "map_index_template": None,
        "next_ds": next_execution.strftime("%Y-%m-%d"),
        "next_ds_nodash": next_execution.strftime("%Y%m%d"),
        "next_execution_date": next_execution,
        "params": params,
        "prev_data_interval_start_success": as_pendulum(previous_success.data_interval_start),
        "prev_data_interval_end_success": as_pendulum(previous_success.data_interval_end),
        "prev_ds": prev_execution.strftime("%Y-%m-%d"),
        "prev_ds_nodash": prev_execution.strftime("%Y%m%d"),
        "prev_execution_date": prev_execution,
        "prev_execution_date_success": as_pendulum(previous_success.logical_date),
        "prev_start_date_success": as_pendulum(previous_success.start_date),
        "prev_end_date_success": as_pendulum(previous_success.end_date),
        "run_id": dag_run.run_id,
        "task": task,
        "task_instance": ti,
        "task_instance_key_str": f"{ti.dag_id}__{ti.task_id}__{ds_nodash}",
        "test_mode": False,
        "ti": ti,
        "tomorrow_ds": (logical + timedelta(days=1)).strftime("%Y-%m-%d"),
        "tomorrow_ds_nodash": (logical + timedelta(days=1)).strftime("%Y%m%d"),
        "triggering_dataset_events": {},
        "ts": logical.isoformat(),
        "ts_nodash": logical.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": logical.isoformat().replace("-", "").replace(":", ""),
        "var": {"value": VariableAccessor(deserialize_json=False), "json": VariableAccessor(deserialize_json=True)},
        "conn": ConnectionAccessor(),
        "yesterday_ds": (logical - timedelta(days=1)).strftime("%Y-%m-%d"),
        "yesterday_ds_nodash": (logical - timedelta(days=1)).strftime("%Y%m%d"),
    }


def context_environment(task: Any, ti: TaskInstanceView, dag_run: DagRunView) -> dict[str, str]:
    """AIRFLOW_CTX_* (exact names and values of Airflow) and SLIPSTREAM_CTX_* twins, only when truthy."""
    email = getattr(task, "email", None)
    if isinstance(email, (list, tuple, set)):
        email = ",".join(email)
    values = {
        "DAG_EMAIL": email,
        "DAG_OWNER": getattr(task, "owner", None),
        "DAG_ID": ti.dag_id,
        "TASK_ID": ti.task_id,
        "EXECUTION_DATE": dag_run.logical_date.isoformat(),
        "TRY_NUMBER": str(ti.try_number),
        "DAG_RUN_ID": dag_run.run_id,
    }
    env: dict[str, str] = {}
    for name, value in values.items():
        if value:
            env[f"AIRFLOW_CTX_{name}"] = str(value)
            env[f"SLIPSTREAM_CTX_{name}"] = str(value)
    return env

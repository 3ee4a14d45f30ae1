"""A DAG as JSON: what the dag processor stores and the API and scheduler read, never importing user code.

Shape (all times ISO 8601 UTC, durations in seconds):

    {"dag_id", "fileloc", "description", "schedule": {"type": ..., "expression": ...},
     "start_date", "end_date", "catchup", "max_active_runs", "max_active_tasks",
     "dagrun_timeout", "params", "tags", "doc_md", "is_paused_upon_creation",
     "tasks": {task_id: {"task_id", "operator", "owner", "email", "retries", "retry_delay",
                          "retry_exponential_backoff", "max_retry_delay", "execution_timeout",
                          "pool", "pool_slots", "priority_weight", "priority_weight_total",
                          "weight_rule", "queue", "trigger_rule", "depends_on_past",
                          "start_date", "end_date", "inlets", "outlets", "doc_md",
                          "upstream_task_ids", "downstream_task_ids",
                          "is_empty", "template_fields", "display": {attribute: str(value)}}}}

`display` holds each public attribute as Airflow's task endpoint shows it (str() of the value).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import orjson

from slipstream.sdk.dag import DAG
from slipstream.sdk.operators import BaseOperator, EmptyOperator

INT32_MAX = 2**31 - 1


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def set_repr(values: set[str]) -> str:
    """Python's set repr, but in a stable order so the same DAG always renders the same."""
    if not values:
        return "set()"
    return "{" + ", ".join(repr(v) for v in sorted(values)) + "}"


def _json_safe(value: Any) -> Any:
    """Params and other user values: keep what JSON can hold, render the rest as str()."""
    try:
        return orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:
        return str(value)


def priority_weights(dag: DAG) -> dict[str, int]:
    """priority_weight_total for each task under its weight rule (downstream by default)."""

    def closure(task_id: str, direction: str) -> set[str]:
        seen: set[str] = set()
        stack = [task_id]
        while stack:
            task = dag.task_dict[stack.pop()]
            for rel in getattr(task, f"{direction}_task_ids"):
                if rel not in seen:
                    seen.add(rel)
                    stack.append(rel)
        return seen

    weights: dict[str, int] = {}
    for task in dag.tasks:
        total = task.priority_weight
        if task.weight_rule in ("downstream", "upstream"):
            total += sum(dag.task_dict[t].priority_weight for t in closure(task.task_id, task.weight_rule))
        weights[task.task_id] = max(-(2**31), min(INT32_MAX, total))
    return weights


def _display(task: BaseOperator, dag: DAG) -> dict[str, str]:
    """The task's attributes stringified the way Airflow 2.10.5's task endpoint shows them."""

    def cb(value: Any) -> str:
        return "None" if value is None else repr(value)

    attrs: dict[str, Any] = {
        "allow_nested_operators": True,
        "depends_on_past": task.depends_on_past,
        "do_xcom_push": task.do_xcom_push,
        "doc": None,
        "doc_json": None,
        "doc_md": task.doc_md,
        "doc_rst": None,
        "doc_yaml": None,
        "downstream_task_ids": set_repr(task.downstream_task_ids),
        "email": task.email,
        "email_on_failure": task.email_on_failure,
        "email_on_retry": task.email_on_retry,
        "end_date": task.end_date,
        "execution_timeout": task.execution_timeout,
        "executor": None,
        "executor_config": task.executor_config,
        "ignore_first_depends_on_past": True,
        "inlets": [str(i) for i in task.inlets],
        "map_index_template": None,
        "max_active_tis_per_dag": None,
        "max_active_tis_per_dagrun": None,
        "max_retry_delay": task.max_retry_delay,
        "multiple_outputs": False,
        "on_execute_callback": None,
        "on_failure_callback": cb(task.on_failure_callback),
        "on_retry_callback": cb(task.on_retry_callback),
        "on_skipped_callback": None,
        "on_success_callback": cb(task.on_success_callback),
        "operator_extra_links": "()",
        "outlets": [str(o) for o in task.outlets],
        "owner": task.owner,
        "params": {**dag.params, **task.params},
        "pool": task.pool,
        "pool_slots": task.pool_slots,
        "priority_weight": task.priority_weight,
        "queue": task.queue,
        "resources": None,
        "retries": task.retries,
        "retry_delay": task.retry_delay,
        "retry_exponential_backoff": task.retry_exponential_backoff,
        "run_as_user": None,
        "sla": None,
        "start_date": task.start_date,
        "start_from_trigger": False,
        "start_trigger_args": None,
        "task_group": None,
        "task_id": task.task_id,
        "template_ext": list(task.template_ext),
        "template_fields": tuple(task.template_fields),
        "template_fields_renderers": {},
        "trigger_rule": task.trigger_rule,
        "ui_color": task.ui_color,
        "ui_fgcolor": task.ui_fgcolor,
        "upstream_task_ids": set_repr(task.upstream_task_ids),
        "wait_for_downstream": False,
        "wait_for_past_depends_before_skipping": False,
        "weight_rule": task.weight_rule,
    }
    for field in task.template_fields:
        attrs[field] = getattr(task, field, None)
    shown = {}
    for key, value in attrs.items():
        shown[key] = value if isinstance(value, str) and key.endswith("task_ids") else str(value)
    return shown


def serialize_task(task: BaseOperator, dag: DAG, weight_total: int) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "operator": task.operator_name,
        "owner": task.owner,
        "email": _json_safe(task.email),
        "retries": task.retries,
        "retry_delay": _seconds(task.retry_delay),
        "retry_exponential_backoff": bool(task.retry_exponential_backoff),
        "max_retry_delay": _seconds(task.max_retry_delay),
        "execution_timeout": _seconds(task.execution_timeout),
        "pool": task.pool,
        "pool_slots": task.pool_slots,
        "priority_weight": task.priority_weight,
        "priority_weight_total": weight_total,
        "weight_rule": task.weight_rule,
        "queue": task.queue,
        "trigger_rule": task.trigger_rule,
        "depends_on_past": bool(task.depends_on_past),
        "start_date": _iso(task.start_date),
        "end_date": _iso(task.end_date),
        "inlets": [str(i) for i in task.inlets],
        "outlets": [str(o) for o in task.outlets],
        "doc_md": task.doc_md,
        "upstream_task_ids": sorted(task.upstream_task_ids),
        "downstream_task_ids": sorted(task.downstream_task_ids),
        # Only a plain EmptyOperator is finished by the scheduler without a process (Airflow's rule).
        "is_empty": type(task) is EmptyOperator and not task.outlets and task.on_success_callback is None,
        "template_fields": list(task.template_fields),
        "display": _display(task, dag),
    }


def serialize_dag(dag: DAG) -> dict[str, Any]:
    weights = priority_weights(dag)
    return {
        "dag_id": dag.dag_id,
        "fileloc": dag.fileloc,
        "description": dag.description,
        "schedule": dag.schedule,
        "start_date": _iso(dag.start_date),
        "end_date": _iso(dag.end_date),
        "catchup": bool(dag.catchup),
        "max_active_runs": int(dag.max_active_runs),
        "max_active_tasks": int(dag.max_active_tasks),
        "dagrun_timeout": _seconds(dag.dagrun_timeout),
        "params": _json_safe(dag.params),
        "tags": [str(t) for t in dag.tags],
        "doc_md": dag.doc_md,
        "is_paused_upon_creation": dag.is_paused_upon_creation,
        "tasks": {t.task_id: serialize_task(t, dag, weights[t.task_id]) for t in dag.tasks},
    }


def dag_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()

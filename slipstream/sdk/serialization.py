"""A DAG as JSON: what the dag processor stores and the API and scheduler read, never importing user code.

Shape (all times ISO 8601 UTC, durations in seconds):

    {"dag_id", "fileloc", "description", "schedule": {"type": ..., "expression": ...},
     "start_date", "end_date", "catchup", "max_active_runs", "max_active_tasks",
     "dagrun_timeout", "params": {name: {"default"?, "description", "schema"}}, "tags", "doc_md",
     "is_paused_upon_creation",
     "tasks": {task_id: {"task_id", "operator", "owner", "email", "retries", "retry_delay",
                          "retry_exponential_backoff", "max_retry_delay", "execution_timeout",
                          "pool", "pool_slots", "priority_weight", "priority_weight_total",
                          "weight_rule", "queue", "trigger_rule", "depends_on_past",
                          "start_date", "end_date", "inlets", "outlets", "doc_md",
                          "upstream_task_ids", "downstream_task_ids",
                          "task_group": group id or None,
                          "is_empty", "template_fields", "display": {attribute: str(value)},
                          "is_setup"?, "is_teardown"?, "on_failure_fail_dagrun"? (present when true),
                          "api": {the stable API's view: class_ref, operator_name, task_display_name,
                                  wait_for_downstream, ui_color, ui_fgcolor, params (the task's own)}}},
     "task_groups": {group_id: {"group_id", "parent_group_id", "prefix_group_id", "tooltip",
                                "ui_color", "ui_fgcolor", "task_ids", "group_ids"}},
     "edge_info": {upstream_id: {downstream_id: {"label": ...}}},
     "api": {what only the stable API shows: dag_display_name, default_view, orientation, owners,
             timezone, timetable_description, has_task_concurrency_limits, max_consecutive_failed_dag_runs,
             render_template_as_native_obj, template_searchpath}}

`display` holds each public attribute as Airflow's task endpoint shows it (str() of the value).
A param's "default" is absent when the Param has none (a value must then come with the run's conf).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import orjson

from slipstream.sdk.dag import DAG
from slipstream.sdk.operators import BaseOperator, EmptyOperator
from slipstream.sdk.params import Param, ParamsDict, copy_params
from slipstream.sdk.schedule import NOTSET, schedule_in_zone

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


def serialize_params(params: ParamsDict) -> dict[str, dict[str, Any]]:
    """Each param's default, description and schema: what the API needs to check a trigger's conf
    without importing the DAG file."""
    serialized: dict[str, dict[str, Any]] = {}
    for name, param in params.items():
        param = param if isinstance(param, Param) else Param(param)
        entry: dict[str, Any] = {"description": param.description, "schema": _json_safe(param.schema)}
        if param.value is not NOTSET:
            entry["default"] = _json_safe(param.value)
        serialized[str(name)] = entry
    return serialized


def _task_params_display(task: BaseOperator, dag: DAG) -> str:
    """str() of the task's params as Airflow holds them (the DAG's overlaid with the task's): the
    resolved values, None for a param without a valid one."""
    merged = copy_params(dag.params)
    merged.update(copy_params(task.params))
    return str(merged)


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


def _group_id(task: BaseOperator) -> str | None:
    group = task.task_group
    return None if group is None or group.is_root else group.group_id


def _group_repr(task: BaseOperator) -> str | None:
    """Airflow shows the group object's repr; a stable address keeps the DAG's hash stable.

    Tasks of the root group show None, as they did before groups existed here."""
    group_id = _group_id(task)
    if group_id is None:
        return None
    address = int(hashlib.sha1(group_id.encode()).hexdigest()[:12], 16)
    return f"<airflow.utils.task_group.TaskGroup object at {address:#x}>"


def serialize_task_groups(dag: DAG) -> dict[str, dict[str, Any]]:
    """Each non-root group: its parent, tooltip, colours and direct children (tasks and groups)."""
    from slipstream.sdk.task_group import TaskGroup

    groups: dict[str, dict[str, Any]] = {}
    for group_id, group in dag.task_group.get_task_group_dict().items():
        if group_id is None:
            continue
        parent = group.task_group
        groups[group_id] = {
            "group_id": group_id,
            "parent_group_id": None if parent is None or parent.is_root else parent.group_id,
            "prefix_group_id": bool(group.prefix_group_id),
            "tooltip": str(group.tooltip or ""),
            "ui_color": str(group.ui_color),
            "ui_fgcolor": str(group.ui_fgcolor),
            "task_ids": [k for k, c in group.children.items() if not isinstance(c, TaskGroup)],
            "group_ids": [k for k, c in group.children.items() if isinstance(c, TaskGroup)],
        }
    return groups


def _display(task: BaseOperator, dag: DAG) -> dict[str, str]:
    """The task's attributes stringified the way Airflow 2.10.5's task endpoint shows them."""

    def cb(value: Any) -> str:
        return "None" if value is None else repr(value)

    attrs: dict[str, Any] = {
        "allow_nested_operators": task.allow_nested_operators,
        "depends_on_past": task.depends_on_past,
        "do_xcom_push": task.do_xcom_push,
        "doc": task.doc,
        "doc_json": task.doc_json,
        "doc_md": task.doc_md,
        "doc_rst": task.doc_rst,
        "doc_yaml": task.doc_yaml,
        "downstream_task_ids": set_repr(task.downstream_task_ids),
        "email": task.email,
        "email_on_failure": task.email_on_failure,
        "email_on_retry": task.email_on_retry,
        "end_date": task.end_date,
        "execution_timeout": task.execution_timeout,
        "executor": task.executor,
        "executor_config": task.executor_config,
        "ignore_first_depends_on_past": task.ignore_first_depends_on_past,
        "inlets": [str(i) for i in task.inlets],
        "map_index_template": task.map_index_template,
        "max_active_tis_per_dag": task.max_active_tis_per_dag,
        "max_active_tis_per_dagrun": task.max_active_tis_per_dagrun,
        "max_retry_delay": task.max_retry_delay,
        "multiple_outputs": task.multiple_outputs,
        "on_execute_callback": cb(task.on_execute_callback),
        "on_failure_callback": cb(task.on_failure_callback),
        "on_retry_callback": cb(task.on_retry_callback),
        "on_skipped_callback": cb(task.on_skipped_callback),
        "on_success_callback": cb(task.on_success_callback),
        "operator_extra_links": "()",
        "outlets": [str(o) for o in task.outlets],
        "owner": task.owner,
        "params": _task_params_display(task, dag),
        "pool": task.pool,
        "pool_slots": task.pool_slots,
        "priority_weight": task.priority_weight,
        "queue": task.queue,
        "resources": task.resources,
        "retries": task.retries,
        "retry_delay": task.retry_delay,
        "retry_exponential_backoff": task.retry_exponential_backoff,
        "run_as_user": task.run_as_user,
        "sla": task.sla,
        "start_date": task.start_date,
        "start_from_trigger": False,
        "start_trigger_args": None,
        "task_group": _group_repr(task),
        "task_id": task.task_id,
        "template_ext": list(task.template_ext),
        "template_fields": tuple(task.template_fields),
        "template_fields_renderers": dict(task.template_fields_renderers),
        "trigger_rule": task.trigger_rule,
        "ui_color": task.ui_color,
        "ui_fgcolor": task.ui_fgcolor,
        "upstream_task_ids": set_repr(task.upstream_task_ids),
        "wait_for_downstream": task.wait_for_downstream,
        "wait_for_past_depends_before_skipping": task.wait_for_past_depends_before_skipping,
        "weight_rule": task.weight_rule,
    }
    for field in task.template_fields:
        attrs[field] = getattr(task, field, None)
    shown = {}
    for key, value in attrs.items():
        shown[key] = value if isinstance(value, str) and key.endswith("task_ids") else str(value)
    return shown


def serialize_task(task: BaseOperator, dag: DAG, weight_total: int) -> dict[str, Any]:
    from slipstream.sdk.mapping import mapping_spec_of

    serialized = _serialize_task(task, dag, weight_total)
    mapping = mapping_spec_of(task)
    if mapping is not None:  # a mapped task: how the scheduler counts its instances
        serialized["mapping"] = mapping
    return serialized


def _serialize_task(task: BaseOperator, dag: DAG, weight_total: int) -> dict[str, Any]:
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
        "task_group": _group_id(task),
        "is_empty": type(task) is EmptyOperator
        and not task.outlets
        and not task.on_success_callback
        and not getattr(task, "on_execute_callback", None),
        "template_fields": list(task.template_fields),
        "display": _display(task, dag),
        **_setup_teardown_marks(task),
        **_dataset_refs(task),
        # Branchers and short-circuits: the scheduler reads their skipmixin_key XCom (NotPreviouslySkippedDep).
        **({"inherits_from_skipmixin": True} if getattr(task, "inherits_from_skipmixin", False) else {}),
        **_external_task_marker(task),
        **_start_trigger(task),
        "api": _task_api_view(task),
    }


# The arguments of a mapped operator that Airflow 2.10 reads, from partial() and expand(), to decide
# and make its start from the triggerer (MappedOperator.expand_start_from_trigger/_trigger_args).
_START_TRIGGER_ARGUMENTS = ("start_from_trigger", "trigger_kwargs", "next_kwargs", "trigger_timeout")


def _start_trigger(task: BaseOperator) -> dict[str, Any]:
    """An operator's start_trigger_args and start_from_trigger as they are after __init__ (instance
    values win over the class's), for the scheduler, which runs no operator code. A mapped operator
    does not run __init__ at parse time: its class's values, overridden by partial() arguments and
    then by literal expand() ones, index by index (XCom-fed ones are not resolved, as in Airflow)."""
    from slipstream.sdk import xcom_serde
    from slipstream.sdk.mapping import MappedOperator

    mapped = isinstance(task, MappedOperator)
    owner = task.operator_class if mapped else task
    args = getattr(owner, "start_trigger_args", None)
    if args is None or not getattr(args, "trigger_cls", None):
        return {}
    spec: dict[str, Any] = {
        "trigger_cls": str(args.trigger_cls),
        "trigger_kwargs": xcom_serde.encode(args.trigger_kwargs or {}),
        "next_method": args.next_method,
        "next_kwargs": xcom_serde.encode(args.next_kwargs or {}),
        "timeout": _seconds(args.timeout),
        "start_from_trigger": bool(getattr(owner, "start_from_trigger", False)),
    }
    if mapped:
        spec.update(_start_trigger_overrides(task.partial_kwargs))
        by_index = _literal_expansions(task)
        if by_index is not None:
            spec["by_map_index"] = [_start_trigger_overrides(kwargs) for kwargs in by_index]
    return {"start_trigger": spec}


def _start_trigger_overrides(kwargs: dict[str, Any]) -> dict[str, Any]:
    from slipstream.sdk import xcom_serde

    overrides: dict[str, Any] = {}
    if "start_from_trigger" in kwargs:
        overrides["start_from_trigger"] = bool(kwargs["start_from_trigger"])
    if "trigger_kwargs" in kwargs:
        overrides["trigger_kwargs"] = xcom_serde.encode(kwargs["trigger_kwargs"] or {})
    if "next_kwargs" in kwargs:
        overrides["next_kwargs"] = xcom_serde.encode(kwargs["next_kwargs"] or {})
    if "trigger_timeout" in kwargs:
        timeout = kwargs["trigger_timeout"]
        overrides["timeout"] = _seconds(timeout) if isinstance(timeout, timedelta) else timeout
    return overrides


def _literal_expansions(task: Any) -> list[dict[str, Any]] | None:
    """Each map index's expand() arguments, when they are all literal and name a start-trigger argument."""
    from slipstream.sdk.mapping import MappedArgument
    from slipstream.sdk.xcom_arg import Resolvable

    expand_input = task.expand_input
    names = set(expand_input.value) if expand_input.kind == "dict_of_lists" else set()
    if expand_input.kind == "list_of_dicts" and isinstance(expand_input.value, list):
        names = {key for item in expand_input.value if isinstance(item, dict) for key in item}
    if not names.intersection(_START_TRIGGER_ARGUMENTS):
        return None
    sources = list(expand_input.value.values()) if expand_input.kind == "dict_of_lists" else [expand_input.value]
    if any(isinstance(source, (Resolvable, MappedArgument)) for source in sources):
        return None
    count = len(expand_input.value) if expand_input.kind == "list_of_dicts" else 1
    if expand_input.kind == "dict_of_lists":
        for source in sources:
            count *= len(source)
    if count > 1024:  # [core] max_map_length
        return None
    return [expand_input.resolve({}, index) for index in range(count)]


def _external_task_marker(task: BaseOperator) -> dict[str, Any]:
    """An ExternalTaskMarker's target, unrendered: a clear of the marker follows it (Airflow's
    include_dependent_dags), rendering the templates against the marker's run."""
    from slipstream.sdk.sensors.external_task import ExternalTaskMarker

    if not isinstance(task, ExternalTaskMarker):
        return {}
    return {
        "external_task_marker": {
            "external_dag_id": str(task.external_dag_id),
            "external_task_id": str(task.external_task_id),
            "execution_date": str(task.execution_date),
            "recursion_depth": int(task.recursion_depth),
        }
    }


def _task_api_view(task: BaseOperator) -> dict[str, Any]:
    """What /api/v1/dags/{dag_id}/tasks shows beyond the scheduler's fields."""
    from slipstream.sdk.class_refs import class_ref

    operator_class = getattr(task, "operator_class", None) or type(task)
    return {
        "class_ref": class_ref(operator_class),
        "operator_name": getattr(operator_class, "custom_operator_name", None) or operator_class.__name__,
        "task_display_name": str(getattr(task, "task_display_name", None) or task.task_id),
        "wait_for_downstream": bool(task.wait_for_downstream),
        "ui_color": str(task.ui_color),
        "ui_fgcolor": str(task.ui_fgcolor),
        "params": serialize_params(task.params),
    }


def _dag_api_view(dag: DAG) -> dict[str, Any]:
    """What /api/v1/dags shows beyond the scheduler's fields, computed once when the file is parsed."""
    from slipstream.sdk.timetables import zone_of
    from slipstream.timetables import timetable_description

    return {
        "dag_display_name": str(dag.dag_display_name),
        "default_view": dag.default_view,
        "orientation": dag.orientation,
        # Airflow's DagModel.owners: the tasks' owners joined with ", " (sorted here, a set there).
        "owners": ", ".join(sorted({str(t.owner) for t in dag.tasks})),
        "timezone": zone_of(dag.start_date),
        "timetable_description": timetable_description(dag.schedule),
        "has_task_concurrency_limits": any(
            t.max_active_tis_per_dag is not None or t.max_active_tis_per_dagrun is not None for t in dag.tasks
        ),
        "max_consecutive_failed_dag_runs": int(dag.max_consecutive_failed_dag_runs),
        "render_template_as_native_obj": bool(dag.render_template_as_native_obj),
        "template_searchpath": _json_safe(dag.template_searchpath),
    }


def _dataset_refs(task: BaseOperator) -> dict[str, Any]:
    """Outlet URIs and aliases, for the dataset tables the dag processor keeps (only when there are any)."""
    from slipstream.sdk.datasets import Dataset, DatasetAlias

    refs = {
        "outlet_uris": [o.uri for o in task.outlets if isinstance(o, Dataset)],
        "outlet_aliases": [o.name for o in task.outlets if isinstance(o, DatasetAlias)],
        # A dataset's extra, which its row keeps from the first DAG that names it (as in Airflow).
        "outlet_extras": {o.uri: o.extra for o in task.outlets if isinstance(o, Dataset) and o.extra},
    }
    return {key: value for key, value in refs.items() if value}


def _setup_teardown_marks(task: BaseOperator) -> dict[str, bool]:
    """is_setup / is_teardown / on_failure_fail_dagrun, only when set: unmarked DAGs keep their hash."""
    marks = {"is_setup": task.is_setup, "is_teardown": task.is_teardown}
    marks["on_failure_fail_dagrun"] = task.on_failure_fail_dagrun
    return {key: True for key, value in marks.items() if value}


def serialize_dag(dag: DAG) -> dict[str, Any]:
    weights = priority_weights(dag)
    return {
        "dag_id": dag.dag_id,
        "fileloc": dag.fileloc,
        "description": dag.description,
        "schedule": schedule_in_zone(dag.schedule, dag.start_date),
        "start_date": _iso(dag.start_date),
        "end_date": _iso(dag.end_date),
        "catchup": bool(dag.catchup),
        "max_active_runs": int(dag.max_active_runs),
        "max_active_tasks": int(dag.max_active_tasks),
        "dagrun_timeout": _seconds(dag.dagrun_timeout),
        "params": serialize_params(dag.params),
        "tags": [str(t) for t in dag.tags],
        "doc_md": dag.doc_md,
        "is_paused_upon_creation": dag.is_paused_upon_creation,
        "has_on_success_callback": bool(getattr(dag, "on_success_callback", None)),
        "has_on_failure_callback": bool(getattr(dag, "on_failure_callback", None)),
        "tasks": {t.task_id: serialize_task(t, dag, weights[t.task_id]) for t in dag.tasks},
        "task_groups": serialize_task_groups(dag),
        "edge_info": _json_safe(dag.edge_info),
        "api": _dag_api_view(dag),
    }


def dag_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()

"""Branching and skipping (task-model-semantics §4): SkipMixin and the operators built on it.

A brancher decides in its own task process: the direct downstream instances it does not follow are
set `skipped` at once, and what it followed is pushed as the `skipmixin_key` XCom; tasks further
down then follow their trigger rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from slipstream.sdk.exceptions import AirflowException
from slipstream.sdk.operators import BaseOperator, PythonOperator

XCOM_SKIPMIXIN_KEY = "skipmixin_key"
XCOM_SKIPMIXIN_SKIPPED = "skipped"
XCOM_SKIPMIXIN_FOLLOWED = "followed"


def _task_ids(tasks: Iterable[Any]) -> list[str]:
    return [t if isinstance(t, str) else t.task_id for t in tasks]


def _skip_in_database(dag_id: str, run_id: str, task_ids: list[str], map_index: int) -> None:
    from sqlalchemy import select

    from slipstream.dates import utcnow
    from slipstream.scheduler.transitions import set_tis_state
    from slipstream.sdk import runtime
    from slipstream.states import TaskInstanceState as TI
    from slipstream.storage.models import TaskInstance

    if not task_ids:
        return
    now = utcnow()
    with runtime.write_session() as session:
        rows = session.execute(
            select(TaskInstance.id, TaskInstance.state).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id.in_(task_ids),
                TaskInstance.map_index == map_index,
            )
        ).all()
        by_state: dict[str | None, list[int]] = {}
        for row in rows:
            if row.state in (None, TI.SCHEDULED, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE):
                by_state.setdefault(row.state, []).append(row.id)
        for state, ids in by_state.items():
            set_tis_state(session, ids, old=state, new=TI.SKIPPED, start_date=now, end_date=now, duration=0.0)


class SkipMixin:
    def skip(self, dag_run: Any, execution_date: Any, tasks: Iterable[Any], map_index: int = -1, **_: Any) -> None:
        """Set the given tasks' instances in this run `skipped` and record that in XCom."""
        task_ids = _task_ids(tasks)
        if not task_ids:
            return
        if map_index == -1:
            _skip_in_database(dag_run.dag_id, dag_run.run_id, task_ids, map_index)
        ti = _current_ti()
        if ti is not None:
            ti.xcom_push(key=XCOM_SKIPMIXIN_KEY, value={XCOM_SKIPMIXIN_SKIPPED: task_ids})

    def skip_all_except(self, ti: Any, branch_task_ids: None | str | Iterable[str]) -> None:
        """Skip every direct downstream task that neither is followed nor lies below a followed one."""
        task = ti.task
        dag = task.dag
        if branch_task_ids is None:
            followed: set[str] = set()
        elif isinstance(branch_task_ids, str):
            followed = {branch_task_ids}
        else:
            branch_task_ids = list(branch_task_ids)
            invalid = [(v, type(v).__name__) for v in branch_task_ids if not isinstance(v, str)]
            if invalid:
                raise AirflowException(
                    f"'branch_task_ids' expected all task IDs are strings. Invalid tasks found: {invalid}."
                )
            followed = set(branch_task_ids)
        followed = _expand_group_ids(dag, followed)
        unknown = followed - set(dag.task_ids)
        if unknown:
            raise AirflowException(
                f"'branch_task_ids' must contain only valid task_ids. Invalid tasks found: {unknown}."
            )
        keep = set(followed)
        for task_id in followed:
            keep |= _downstream_closure(dag, task_id)
        downstream = sorted(task.downstream_task_ids)
        if not downstream:
            return
        to_skip = [t for t in downstream if t not in keep]
        # As Airflow: the direct downstream tasks kept (followed, or below a followed one, like a join).
        ti.xcom_push(key=XCOM_SKIPMIXIN_KEY, value={XCOM_SKIPMIXIN_FOLLOWED: [t for t in downstream if t in keep]})
        if to_skip:
            _skip_in_database(ti.dag_id, ti.run_id, to_skip, ti.map_index)
            print(f"Skipping tasks {to_skip}", flush=True)


def _current_ti() -> Any:
    from slipstream.sdk import runtime

    try:
        return runtime.get_current_context()["ti"]
    except AirflowException:
        return None


def _expand_group_ids(dag: Any, ids: set[str]) -> set[str]:
    """A task group's id stands for the group's root tasks."""
    group_dict = getattr(dag, "task_group_dict", None) or {}
    result: set[str] = set()
    for task_id in ids:
        group = group_dict.get(task_id) if task_id not in dag.task_dict else None
        if group is not None:
            result |= {root.task_id for root in group.roots}
        else:
            result.add(task_id)
    return result


def _downstream_closure(dag: Any, task_id: str) -> set[str]:
    seen: set[str] = set()
    stack = [task_id]
    while stack:
        for child in dag.task_dict[stack.pop()].downstream_task_ids:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


class BranchMixIn(SkipMixin):
    def do_branch(self, context: dict[str, Any], branches_to_execute: Any) -> Any:
        print(f"Branch into {branches_to_execute}", flush=True)
        self.skip_all_except(context["ti"], branches_to_execute)
        return branches_to_execute


class BaseBranchOperator(BaseOperator, BranchMixIn):
    """Subclasses implement choose_branch(context) returning task ids (or group ids) to follow."""

    inherits_from_skipmixin = True

    def choose_branch(self, context: dict[str, Any]) -> str | Iterable[str] | None:
        raise NotImplementedError

    def execute(self, context: dict[str, Any]) -> Any:
        return self.do_branch(context, self.choose_branch(context))


class BranchPythonOperator(PythonOperator, BranchMixIn):
    inherits_from_skipmixin = True

    def execute(self, context: dict[str, Any]) -> Any:
        return self.do_branch(context, super().execute(context))


class ShortCircuitOperator(PythonOperator, SkipMixin):
    """A falsy result skips downstream: everything below (the default) or only the direct children."""

    inherits_from_skipmixin = True

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules

    def execute(self, context: dict[str, Any]) -> Any:
        condition = super().execute(context)
        print(f"Condition result is {condition}", flush=True)
        if condition:
            print("Proceeding with downstream tasks...", flush=True)
            return condition
        dag = self.dag
        if self.ignore_downstream_trigger_rules:
            to_skip = sorted(_downstream_closure(dag, self.task_id))
        else:
            to_skip = sorted(self.downstream_task_ids)
        to_skip = [t for t in to_skip if not getattr(dag.task_dict[t], "is_teardown", False)]
        print("Skipping downstream tasks", flush=True)
        ti = context["ti"]
        _skip_in_database(ti.dag_id, ti.run_id, to_skip, ti.map_index)
        ti.xcom_push(key=XCOM_SKIPMIXIN_KEY, value={XCOM_SKIPMIXIN_SKIPPED: to_skip})
        print("Done.", flush=True)
        return condition


def _dag_timezone(dag: Any) -> Any:
    import pendulum

    start = getattr(dag, "start_date", None)
    tz = getattr(start, "tzinfo", None)
    return tz or pendulum.timezone("UTC")


class BranchDateTimeOperator(BaseBranchOperator):
    """Follows one branch when "now" (or the logical date) lies within [target_lower, target_upper]."""

    def __init__(
        self,
        *,
        follow_task_ids_if_true: str | Iterable[str],
        follow_task_ids_if_false: str | Iterable[str],
        target_lower: dt.datetime | dt.time | None = None,
        target_upper: dt.datetime | dt.time | None = None,
        use_task_logical_date: bool = False,
        use_task_execution_date: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if target_lower is None and target_upper is None:
            raise AirflowException(
                "Both target_upper and target_lower are None. At least one must be defined to be compared to "
                "the current datetime"
            )
        self.target_lower = target_lower
        self.target_upper = target_upper
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.use_task_logical_date = use_task_logical_date or use_task_execution_date

    def choose_branch(self, context: dict[str, Any]) -> Any:
        import pendulum

        now = context["logical_date"] if self.use_task_logical_date else pendulum.now("UTC")
        tz = _dag_timezone(self.dag)
        lower, upper = _target_times(self.target_lower, self.target_upper, now, tz)
        if (upper is not None and upper < now) or (lower is not None and lower > now):
            return self.follow_task_ids_if_false
        return self.follow_task_ids_if_true


def _target_times(lower: Any, upper: Any, now: dt.datetime, tz: Any) -> tuple[Any, Any]:
    """Times of day take now's UTC date; an upper time before the lower one means the next day."""

    def as_datetime(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, dt.time):
            moment = dt.datetime.combine(now.astimezone(dt.UTC).date(), value)
        else:
            raise TypeError(f"Expected datetime.datetime or datetime.time type for target, got {type(value)}")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        return moment

    lower_dt, upper_dt = as_datetime(lower), as_datetime(upper)
    if lower_dt is not None and upper_dt is not None and upper_dt < lower_dt and isinstance(upper, dt.time):
        upper_dt += dt.timedelta(days=1)
    return lower_dt, upper_dt


class BranchDayOfWeekOperator(BaseBranchOperator):
    """Follows one branch on the given week day(s) of the logical date (or of today in the DAG's zone)."""

    def __init__(
        self,
        *,
        follow_task_ids_if_true: str | Iterable[str],
        follow_task_ids_if_false: str | Iterable[str],
        week_day: Any,
        use_task_logical_date: bool = False,
        use_task_execution_day: bool = False,
        **kwargs: Any,
    ):
        from slipstream.sdk.weekday import WeekDay

        super().__init__(**kwargs)
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.week_day = week_day
        self.use_task_logical_date = use_task_logical_date or use_task_execution_day
        self._week_day_num = WeekDay.validate_week_day(week_day)

    def choose_branch(self, context: dict[str, Any]) -> Any:
        import pendulum

        if self.use_task_logical_date:
            day = context["logical_date"].isoweekday()
        else:
            day = pendulum.now(_dag_timezone(self.dag)).isoweekday()
        if day in self._week_day_num:
            return self.follow_task_ids_if_true
        return self.follow_task_ids_if_false


class LatestOnlyOperator(BaseBranchOperator):
    """Lets downstream run only in the latest scheduled run (and in every manual one)."""

    ui_color = "#e9ffdb"

    def choose_branch(self, context: dict[str, Any]) -> Any:
        import pendulum

        dag_run = context["dag_run"]
        if dag_run.external_trigger:
            print("Externally triggered DAG_Run: allowing execution to proceed.", flush=True)
            return list(self.downstream_task_ids)
        interval = _next_interval(self.dag, dag_run)
        if interval is None:
            print("Last scheduled execution: allowing execution to proceed.", flush=True)
            return list(self.downstream_task_ids)
        left, right = interval
        now = pendulum.now("UTC")
        print(f"Checking latest only with left_window: {left} right_window: {right} now: {now}", flush=True)
        if not left < now <= right:
            print("Not latest execution, skipping downstream.", flush=True)
            return []
        print("Latest, allowing execution to proceed.", flush=True)
        return list(self.downstream_task_ids)


def _next_interval(dag: Any, dag_run: Any) -> tuple[dt.datetime, dt.datetime] | None:
    from slipstream.timetables import next_dagrun_info

    interval = (dag_run.data_interval_start, dag_run.data_interval_end)
    if interval[0] is None or interval[1] is None:
        return None
    # Unrestricted, as Airflow asks it: the DAG's end date does not make a run the latest.
    from slipstream.sdk.schedule import schedule_in_zone

    info = next_dagrun_info(
        schedule_in_zone(dag.schedule, dag.start_date),
        earliest=dag.start_date,
        latest=None,
        catchup=True,
        last_automated=interval,
        now=interval[1],
    )
    if info is None:
        return None
    return info.data_interval_start, info.data_interval_end

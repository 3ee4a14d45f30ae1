"""Earlier tries of task instances (Airflow 2.10's task_instance_history): copied from task_instance
when a try fails and is retried, and when a task instance is cleared, so that /tries keeps them.

One INSERT ... SELECT per call, with no ORM objects: it runs on the engine's failure path. A try is
recorded once; a try that had not finished is recorded as failed (Airflow's record_ti).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, case, exists, func, insert, literal, select
from sqlalchemy.orm import Session

from slipstream.states import FINISHED_TI_STATES
from slipstream.states import TaskInstanceState as TI
from slipstream.storage.models import TaskInstance, TaskInstanceHistory

# Columns copied as they are (the rest: state, end_date).
_COPIED = (
    "dag_id",
    "run_id",
    "task_id",
    "map_index",
    "try_number",
    "max_tries",
    "start_date",
    "duration",
    "hostname",
    "unixname",
    "pid",
    "job_id",
    "pool",
    "pool_slots",
    "queue",
    "priority_weight",
    "operator",
    "custom_operator_name",
    "queued_dttm",
    "queued_by_job_id",
    "executor",
    "executor_config",
    "external_executor_id",
    "rendered_map_index",
    "updated_at",
)
_FINISHED = sorted(str(state) for state in FINISHED_TI_STATES)
_CHUNK = 500


def record_tries(session: Session, ti_ids: Iterable[int], *, now: datetime, state: str | None = None) -> int:
    """Copy the current try of each task instance (that has tried at least once, and whose try is not
    recorded yet, and, when `state` is given, that is in it) into task_instance_history."""
    ids = list(ti_ids)
    ti = TaskInstance.__table__
    history = TaskInstanceHistory.__table__
    recorded = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        already = exists().where(
            and_(
                history.c.dag_id == ti.c.dag_id,
                history.c.run_id == ti.c.run_id,
                history.c.task_id == ti.c.task_id,
                history.c.map_index == ti.c.map_index,
                history.c.try_number == ti.c.try_number,
            )
        )
        conditions = [ti.c.id.in_(chunk), ti.c.try_number > 0, ~already]
        if state is not None:
            conditions.append(ti.c.state == state)
        source = select(
            *(ti.c[name] for name in _COPIED),
            case((ti.c.state.in_(_FINISHED), ti.c.state), else_=literal(TI.FAILED.value)).label("state"),
            func.coalesce(ti.c.end_date, literal(now, type_=ti.c.end_date.type)).label("end_date"),
        ).where(*conditions)
        result = session.execute(insert(history).from_select([*_COPIED, "state", "end_date"], source))
        recorded += max(result.rowcount or 0, 0)
    return recorded

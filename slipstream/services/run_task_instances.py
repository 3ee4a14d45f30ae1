"""A new run's task instances, inserted with one statement prepared per DAG.

Every run of a DAG inserts the same rows but for the run's id and timestamp. Per row, an executemany
builds and binds about twenty parameters, and SQLite resets the statement; together that was a
quarter of a trigger's CPU. Here each DAG's tasks become one INSERT ... SELECT over a UNION ALL of
its tasks' values, which are the statement's own constant parameters (converted once), and a call
binds what the run adds: DAG id, run id and time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, union_all
from sqlalchemy.orm import Session

from slipstream.models import TaskInstance
from slipstream.prepared import Prepared

_TABLE = TaskInstance.__table__
# What each task contributes to its row, from the serialized DAG.
_PER_TASK = (
    "task_id",
    "max_tries",
    "pool",
    "pool_slots",
    "queue",
    "priority_weight",
    "operator",
    "custom_operator_name",
)
# What a run gives all its rows, and what every new row starts with (Airflow's: no state, no try yet).
_PER_RUN = ("dag_id", "run_id", "updated_at")
_NEW_ROW = {"map_index": -1, "state": None, "try_number": 0, "executor_config": {}}

# SQLite allows 500 SELECTs in a UNION ALL and 32,766 parameters in a statement; PostgreSQL 65,535.
TASKS_PER_STATEMENT = 100

_TaskRow = tuple[dict[str, Any], datetime | None, datetime | None]


class DagTaskRows:
    """One serialized DAG's task rows (start and end dates parsed once) and its insert statements,
    one per set of tasks a run's date admits (nearly always all of them)."""

    def __init__(self, dag: dict[str, Any]) -> None:
        self.dag = dag  # kept, so that its id() names no other DAG while this lives
        self.rows: list[_TaskRow] = [_task_row(task) for task in dag["tasks"].values()]
        self._inserts: dict[tuple[int, ...], list[Prepared]] = {}

    def insert(self, session: Session, *, run_id: str, execution_date: datetime, now: datetime) -> None:
        rows = self.rows
        admitted = tuple(i for i, (_row, start, end) in enumerate(rows) if admits_run_at(start, end, execution_date))
        statements = self._inserts.get(admitted)
        if statements is None:
            rows = [self.rows[i][0] for i in admitted]
            statements = self._inserts[admitted] = [
                Prepared(_insert_statement(rows[at : at + TASKS_PER_STATEMENT]))
                for at in range(0, len(rows), TASKS_PER_STATEMENT)
            ]
        values = {"dag_id": self.dag["dag_id"], "run_id": run_id, "updated_at": now}
        for statement in statements:
            statement.execute(session, values).close()


def _insert_statement(rows: list[dict[str, Any]]):
    """INSERT INTO task_instance (...) SELECT <run's values>, t.* FROM (<one SELECT per task>) AS t."""
    selects = [
        select(*(bindparam(f"t{i}_{name}", row[name], type_=_TABLE.c[name].type).label(name) for name in _PER_TASK))
        for i, row in enumerate(rows)
    ]
    tasks = (selects[0] if len(selects) == 1 else union_all(*selects)).subquery("t")
    per_run = [bindparam(name, type_=_TABLE.c[name].type) for name in _PER_RUN]
    new_row = [bindparam(name, value, type_=_TABLE.c[name].type) for name, value in _NEW_ROW.items()]
    return insert(_TABLE).from_select(
        [*_PER_RUN, *_NEW_ROW, *_PER_TASK],
        select(*per_run, *new_row, *(tasks.c[name] for name in _PER_TASK)),
    )


def task_instance_columns(task: dict[str, Any]) -> dict[str, Any]:
    """What a serialized task gives its task instances' rows (the columns of _PER_TASK)."""
    return {
        "task_id": task["task_id"],
        "max_tries": task["retries"],
        "pool": task["pool"],
        "pool_slots": task["pool_slots"],
        "queue": task["queue"],
        "priority_weight": task["priority_weight_total"],
        "operator": task["operator"],
        "custom_operator_name": task["operator"],
    }


def new_task_instance_columns(task: dict[str, Any]) -> dict[str, Any]:
    """Every column of a new task instance of `task` but its DAG id, run id and time."""
    return {**task_instance_columns(task), **_NEW_ROW, "executor_config": {}}  # a dict of its own


def _task_row(task: dict[str, Any]) -> _TaskRow:
    start, end = task.get("start_date"), task.get("end_date")
    return (
        task_instance_columns(task),
        None if start is None else datetime.fromisoformat(start),
        None if end is None else datetime.fromisoformat(end),
    )


def admits_run_at(start: datetime | None, end: datetime | None, execution_date: datetime) -> bool:
    """Whether a task with these start and end dates has a task instance in a run at execution_date
    (for the trigger here, and for the scheduler's runs and added tasks)."""
    return (start is None or start <= execution_date) and (end is None or execution_date <= end)


class TaskRowsByDag:
    """DagTaskRows per serialized DAG object: slipstream.services.serialized hands out one parsed DAG
    per (dag_id, hash), so every trigger of an unchanged DAG finds its rows and statements ready.
    Bounded: emptied when full."""

    def __init__(self, max_entries: int = 512) -> None:
        self._max_entries = max_entries
        self._entries: dict[int, DagTaskRows] = {}

    def __call__(self, dag: dict[str, Any]) -> DagTaskRows:
        entry = self._entries.get(id(dag))
        if entry is not None and entry.dag is dag:
            return entry
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        entry = self._entries[id(dag)] = DagTaskRows(dag)
        return entry


task_rows_of = TaskRowsByDag()

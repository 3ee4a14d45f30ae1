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

from sqlalchemy import bindparam, insert, or_, select, union_all, update
from sqlalchemy.orm import Session

from slipstream.scheduler.transitions import set_ti_state
from slipstream.storage.models import DagRun, TaskInstance
from slipstream.storage.prepared import Prepared

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
        self.literal_mappings = _literal_mappings(dag)

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
        admitted_ids = {self.rows[i][0]["task_id"] for i in admitted} if self.literal_mappings else set()
        for task_id, length in self.literal_mappings:
            if task_id in admitted_ids:
                _expand_placeholder(session, self.dag, run_id, task_id, length, now)


def _literal_mappings(dag: dict[str, Any]) -> list[tuple[str, int]]:
    """Mapped tasks counted from literals only: Airflow creates their indexes with the run (an empty
    literal keeps its placeholder, skipped later)."""
    found = []
    for task in dag["tasks"].values():
        factors = (task.get("mapping") or {}).get("factors")
        if factors and all("literal" in f for f in factors):
            length = 1
            for factor in factors:
                length *= int(factor["literal"])
            if length > 0:
                found.append((task["task_id"], length))
    return found


def _expand_placeholder(
    session: Session, dag: dict[str, Any], run_id: str, task_id: str, length: int, now: datetime
) -> None:
    """The placeholder (map_index -1) becomes index 0; indexes 1..length-1 are new rows like it."""
    session.execute(
        update(_TABLE)
        .where(
            _TABLE.c.dag_id == dag["dag_id"],
            _TABLE.c.run_id == run_id,
            _TABLE.c.task_id == task_id,
            _TABLE.c.map_index == -1,
        )
        .values(map_index=0)
    )
    if length > 1:
        columns = new_task_instance_columns(dag["tasks"][task_id])
        session.execute(
            insert(_TABLE),
            [
                {**columns, "dag_id": dag["dag_id"], "run_id": run_id, "updated_at": now, "map_index": index}
                for index in range(1, length)
            ],
        )


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


# -- a user setting task instances' state or note (the stable API; Airflow's set_state) --------------


def run_ids_around(session: Session, dag_id: str, run_id: str, *, past: bool, future: bool) -> list[str]:
    """The run, and with past / future every run of the DAG at or before / at or after its logical date."""
    when = session.scalar(select(DagRun.execution_date).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if when is None:
        return []
    if not past and not future:
        return [run_id]
    query = select(DagRun.run_id).where(DagRun.dag_id == dag_id)
    if not past:
        query = query.where(DagRun.execution_date >= when)
    if not future:
        query = query.where(DagRun.execution_date <= when)
    return list(session.scalars(query))


def select_to_mark(
    session: Session,
    dag_id: str,
    task_ids: list[str],
    run_ids: list[str],
    new_state: str,
    *,
    map_indexes: list[int] | None = None,
):
    """(task instance, run's logical date) rows set_state would change: those not in new_state yet."""
    query = (
        select(TaskInstance, DagRun.execution_date)
        .join(DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id))
        .where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.task_id.in_(task_ids),
            TaskInstance.run_id.in_(run_ids),
            or_(TaskInstance.state.is_(None), TaskInstance.state != new_state),
        )
        .order_by(DagRun.execution_date, TaskInstance.task_id, TaskInstance.map_index)
    )
    if map_indexes is not None:
        query = query.where(TaskInstance.map_index.in_(map_indexes))
    return session.execute(query).all()


def mark_task_instances(session: Session, tis: list[TaskInstance], new_state: str, *, now: datetime) -> int:
    """Airflow's TaskInstance.set_state for each: started now if it never started, and ended now if it
    had not ended (a finished state); compare-and-set against the state read."""
    moved = 0
    for ti in tis:
        start = ti.start_date or now
        end = ti.end_date or now
        moved += set_ti_state(
            session,
            ti.id,
            old=ti.state,
            new=new_state,
            start_date=start,
            end_date=end,
            duration=(end - start).total_seconds(),
            next_retry_at=None,
        )
    return moved


def set_task_instance_note(session: Session, ti_id: int, note: str | None) -> None:
    """The note only: the row's updated_at stays (Airflow keeps notes in a table of their own)."""
    session.execute(
        update(TaskInstance)
        .where(TaskInstance.id == ti_id)
        .values(note=note, updated_at=TaskInstance.updated_at)
        .execution_options(synchronize_session=False)
    )

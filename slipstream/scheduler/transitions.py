"""The only way the engine writes a state: checked against slipstream.states, then compare-and-set in SQL.

Each update names the state it expects to replace (and, for task instances, optionally the try), so
two writers that race (the scheduler and a task process, or two schedulers) never both win.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from slipstream.dates import utcnow
from slipstream.services.task_history import record_tries
from slipstream.states import TaskInstanceState, check_run_transition, check_ti_transition
from slipstream.storage.models import DagRun, TaskInstance

_CHUNK = 500


def _ti_state_is(old: str | None):
    return TaskInstance.state.is_(None) if old is None else TaskInstance.state == str(old)


def _value(state: str | None) -> str | None:
    return None if state is None else str(state)


def set_ti_state(
    session: Session,
    ti_id: int,
    *,
    old: str | None,
    new: str | None,
    expect_try: int | None = None,
    **values: Any,
) -> bool:
    """Move one task instance from `old` to `new` (with extra column values); False if it was not in `old`."""
    return set_tis_state(session, [ti_id], old=old, new=new, expect_try=expect_try, **values) == 1


def set_tis_state(
    session: Session,
    ti_ids: Iterable[int],
    *,
    old: str | None,
    new: str | None,
    expect_try: int | None = None,
    **values: Any,
) -> int:
    """Move task instances that are still in `old` to `new`; returns how many moved."""
    check_ti_transition(old, new)
    ids = list(ti_ids)
    moved = 0
    now = utcnow()
    for start in range(0, len(ids), _CHUNK):
        chunk: Sequence[int] = ids[start : start + _CHUNK]
        stmt = (
            update(TaskInstance)
            .where(TaskInstance.id.in_(chunk) if len(chunk) > 1 else TaskInstance.id == chunk[0])
            .where(_ti_state_is(old))
            .values(state=_value(new), updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        if expect_try is not None:
            stmt = stmt.where(TaskInstance.try_number == expect_try)
        moved += session.execute(stmt).rowcount
    if moved and new == TaskInstanceState.UP_FOR_RETRY:
        # The failed try is kept for /tries before the next one overwrites the row (Airflow's record_ti).
        record_tries(session, ids, now=now, state=TaskInstanceState.UP_FOR_RETRY.value)
    return moved


def set_run_state(session: Session, run_pk: int, *, old: str, new: str, **values: Any) -> bool:
    """Move one DAG run from `old` to `new`; False if another writer moved it first."""
    check_run_transition(old, new)
    stmt = (
        update(DagRun)
        .where(DagRun.id == run_pk)
        .where(DagRun.state == str(old))
        .values(state=str(new), **values)
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).rowcount == 1

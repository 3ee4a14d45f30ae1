"""Which queued runs start (issue 15, bursts): a run starts while its DAG has room for a task
(max_active_tasks less what is scheduled, queued or running) and the executor has a slot for it, so
that under a burst of triggers a started run's first task starts at once instead of waiting, `running`,
behind max_active_tasks; and a run never examined is examined first, in the pass that starts it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from slipstream.dates import utcnow
from slipstream.scheduler.dag_specs import DagSpecCache
from slipstream.scheduler.dagrun import MAX_RUNS_PER_LOOP, RunExaminer
from slipstream.scheduler.runs import start_queued_runs
from slipstream.storage.db import session_scope
from slipstream.storage.models import DagRun, TaskInstance
from tests.engine.support import add_dag, trigger

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def dag_source(dag_id: str, max_active_tasks: int) -> str:
    return f"""
from datetime import UTC, datetime

from slipstream.sdk import DAG, BashOperator

with DAG("{dag_id}", schedule=None, start_date=datetime(2019, 1, 1, tzinfo=UTC), max_active_runs=64,
         max_active_tasks={max_active_tasks}):
    BashOperator(task_id="only", bash_command="true")
"""


def states(settings, dag_id: str) -> dict[str, tuple[str, str | None]]:
    """run_id -> (run state, its task's state)."""
    with session_scope(settings.database_url, write=False) as db:
        rows = db.execute(
            select(DagRun.run_id, DagRun.state, TaskInstance.state)
            .join(TaskInstance, (TaskInstance.dag_id == DagRun.dag_id) & (TaskInstance.run_id == DagRun.run_id))
            .where(DagRun.dag_id == dag_id)
        ).all()
    return {run_id: (run_state, ti_state) for run_id, run_state, ti_state in rows}


def one_pass(settings, specs: DagSpecCache, examiner: RunExaminer, *, limit: int = 20) -> list[tuple[str, str]]:
    """Start what may start, then examine (what the scheduler's pass does, in one transaction)."""
    with session_scope(settings.database_url) as db:
        now = utcnow()
        started = start_queued_runs(db, specs, now, limit=limit)
        examiner.examine_running_runs(db, now)
    return started


def test_a_queued_run_starts_only_while_its_dag_has_room_for_a_task(engine_settings):
    settings = engine_settings
    add_dag(settings, "admission", dag_source("admission", max_active_tasks=2))
    runs = [trigger(settings, "admission", execution_date=EPOCH + timedelta(seconds=n)) for n in range(5)]
    specs, examiner = DagSpecCache(), RunExaminer(DagSpecCache())

    assert [run_id for _, run_id in one_pass(settings, specs, examiner)] == runs[:2]
    now = states(settings, "admission")
    assert [now[r] for r in runs] == [("running", "scheduled")] * 2 + [("queued", None)] * 3
    # Their tasks wait for a slot (scheduled), then run (queued): no room either way.
    assert one_pass(settings, specs, examiner) == []
    with session_scope(settings.database_url) as db:
        db.execute(update(TaskInstance).where(TaskInstance.run_id.in_(runs[:2])).values(state="queued"))
    assert one_pass(settings, specs, examiner) == []
    # One task ends: room for one more run, the oldest.
    with session_scope(settings.database_url) as db:
        db.execute(update(TaskInstance).where(TaskInstance.run_id == runs[0]).values(state="success"))
    assert [run_id for _, run_id in one_pass(settings, specs, examiner)] == [runs[2]]
    now = states(settings, "admission")
    assert now[runs[0]] == ("success", "success")
    assert now[runs[2]] == ("running", "scheduled")
    assert [now[r][0] for r in runs[3:]] == ["queued", "queued"]


def test_no_run_starts_without_an_executor_slot(engine_settings):
    settings = engine_settings
    add_dag(settings, "no_slots", dag_source("no_slots", max_active_tasks=16))
    runs = [trigger(settings, "no_slots", execution_date=EPOCH + timedelta(seconds=n)) for n in range(3)]
    specs, examiner = DagSpecCache(), RunExaminer(DagSpecCache())
    assert one_pass(settings, specs, examiner, limit=0) == []
    assert {state for state, _ in states(settings, "no_slots").values()} == {"queued"}
    assert [run_id for _, run_id in one_pass(settings, specs, examiner, limit=1)] == runs[:1]


def test_a_run_just_started_is_examined_in_the_same_pass(engine_settings):
    """Even behind more running runs than one pass examines (their tasks in flight)."""
    settings = engine_settings
    add_dag(settings, "many", dag_source("many", max_active_tasks=64))
    busy = [trigger(settings, "many", execution_date=EPOCH + timedelta(seconds=n)) for n in range(MAX_RUNS_PER_LOOP)]
    specs, examiner = DagSpecCache(), RunExaminer(DagSpecCache())
    assert len(one_pass(settings, specs, examiner)) == MAX_RUNS_PER_LOOP
    with session_scope(settings.database_url) as db:
        db.execute(update(TaskInstance).where(TaskInstance.run_id.in_(busy)).values(state="running"))
    late = trigger(settings, "many", execution_date=EPOCH + timedelta(days=1))
    assert [run_id for _, run_id in one_pass(settings, specs, examiner)] == [late]
    assert states(settings, "many")[late] == ("running", "scheduled")

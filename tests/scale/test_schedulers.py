"""Several `slipstream scheduler` processes on one database (active/active, as Airflow 2 runs them).

On PostgreSQL: two schedulers run a 200-task DAG in a 3-slot pool: every task runs exactly once,
no more than 3 overlap, both schedulers queue work; one SIGKILLed mid-run and the other finishes it.
On SQLite: a second scheduler refuses to start (SQLite supports one), a dead one does not block.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from slipstream.storage.db import session_scope
from slipstream.storage.models import Job, Pool, TaskInstance
from tests.databases import backend
from tests.engine.support import FAST_TIMERS, add_dag, trigger, wait_for, wait_for_run
from tests.live_server import SLIPSTREAM, Process, environment

pytestmark = pytest.mark.slow

on_postgres = pytest.mark.skipif(
    backend() != "postgres",
    reason="several schedulers need PostgreSQL (row locks); run with SLIPSTREAM_TEST_BACKEND=postgres",
)
on_sqlite = pytest.mark.skipif(backend() == "postgres", reason="the refusal of a second scheduler is SQLite's")

TASKS = 200
SLOTS = 3
DAG_ID = "many"
FAST = {
    **FAST_TIMERS,
    # Two schedulers on two cores: a few task processes each, no thrashing.
    "SLIPSTREAM_PARALLELISM": "4",
}

# Each try appends "task_id start end" once its work is done: a try killed midway leaves no line.
MANY_DAG = """
from datetime import UTC, datetime, timedelta

from slipstream.sdk import DAG, BashOperator

with DAG("{dag_id}", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC), max_active_tasks=64) as dag:
    for i in range({tasks}):
        BashOperator(
            task_id=f"t{{i:03d}}",
            bash_command='s=$(date +%s.%N); sleep 0.1; echo "{{{{ ti.task_id }}}} $s $(date +%s.%N)" >> {out}',
            pool="{pool}",
            retries=2,
            retry_delay=timedelta(seconds=0.2),
        )
"""


def start_scheduler(settings, name: str) -> Process:
    return Process([*SLIPSTREAM, "scheduler"], environment(settings, **FAST), settings.home / f"{name}.log")


def prepare(settings, out: Path) -> str:
    with session_scope(settings.database_url) as db:
        db.add(Pool(pool="three", slots=SLOTS, description="three", include_deferred=False))
    add_dag(settings, DAG_ID, MANY_DAG.format(dag_id=DAG_ID, tasks=TASKS, out=out, pool="three"))
    return trigger(settings, DAG_ID)


def read_lines(out: Path) -> list[tuple[str, float, float]]:
    rows = []
    for line in out.read_text().splitlines():
        task_id, start, end = line.split()
        rows.append((task_id, float(start), float(end)))
    return rows


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant (an end at t comes before a start at t)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_, most = 0, 0
    for _, delta in events:
        open_ += delta
        most = max(most, open_)
    return most


def ti_summary(settings, run_id: str) -> tuple[Counter, Counter]:
    with session_scope(settings.database_url, write=False) as db:
        rows = db.execute(
            select(TaskInstance.state, TaskInstance.queued_by_job_id).where(
                TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == run_id
            )
        ).all()
    return Counter(state for state, _ in rows), Counter(job for _, job in rows)


def succeeded(settings, run_id: str) -> int:
    with session_scope(settings.database_url, write=False) as db:
        return db.scalar(
            select(func.count()).where(
                TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == run_id, TaskInstance.state == "success"
            )
        )


@on_postgres
def test_two_schedulers_share_a_run_without_running_a_task_twice(settings, tmp_path):
    out = tmp_path / "side-effects.txt"
    run_id = prepare(settings, out)
    with start_scheduler(settings, "scheduler-a") as a, start_scheduler(settings, "scheduler-b") as b:
        try:
            assert wait_for_run(settings, DAG_ID, run_id, timeout=90) == "success"
        except AssertionError:
            print(a.output()[-3000:], b.output()[-3000:])
            raise

    rows = read_lines(out)
    counts = Counter(task_id for task_id, _, _ in rows)
    assert len(counts) == TASKS
    assert set(counts.values()) == {1}, [t for t, n in counts.items() if n > 1]
    assert max_overlap([(start, end) for _, start, end in rows]) <= SLOTS
    states, queued_by = ti_summary(settings, run_id)
    assert states == Counter({"success": TASKS})
    # Both schedulers queued work (the pool lock hands the critical section back and forth).
    print("task instances queued per scheduler job:", dict(queued_by))
    assert len(set(queued_by) - {None}) == 2, queued_by


@on_postgres
def test_the_other_scheduler_finishes_the_work_of_a_killed_one(settings, tmp_path):
    out = tmp_path / "side-effects.txt"
    run_id = prepare(settings, out)
    with start_scheduler(settings, "scheduler-a") as a, start_scheduler(settings, "scheduler-b"):
        wait_for(lambda: succeeded(settings, run_id) >= 40, 60, "40 tasks to succeed")
        a.kill(signal.SIGKILL)  # the scheduler and its fork server (its process group)
        a.popen.wait(10)
        assert wait_for_run(settings, DAG_ID, run_id, timeout=90) == "success"

    states, _ = ti_summary(settings, run_id)
    assert states == Counter({"success": TASKS})
    rows = read_lines(out)
    counts = Counter(task_id for task_id, _, _ in rows)
    # Every task completed its work; only a try killed after its echo could complete twice.
    assert len(counts) == TASKS
    assert max_overlap([(start, end) for _, start, end in rows]) <= SLOTS + sum(n - 1 for n in counts.values())
    with session_scope(settings.database_url, write=False) as db:
        jobs = dict(db.execute(select(Job.id, Job.state).where(Job.job_type == "SchedulerJob")).all())
    assert sorted(jobs.values()) == ["failed", "success"], jobs  # the dead one was found dead


def wait_for_running_job(settings) -> Job:
    def find():
        with session_scope(settings.database_url, write=False) as db:
            return db.scalar(select(Job).where(Job.job_type == "SchedulerJob", Job.state == "running"))

    return wait_for(find, 30, "a running scheduler job")


@on_sqlite
def test_a_second_scheduler_on_sqlite_refuses_to_start(settings):
    with start_scheduler(settings, "scheduler-1") as first:
        job = wait_for_running_job(settings)
        second = start_scheduler(settings, "scheduler-2")
        try:
            code = second.popen.wait(30)
        finally:
            second.stop()
        output = " ".join(second.output().split())  # rich wraps long lines
        assert code != 0, output
        assert f"another scheduler (job {job.id}, pid {first.popen.pid} on host {job.hostname})" in output
        assert "SQLite supports one scheduler" in output and "use PostgreSQL for several" in output
        assert first.popen.poll() is None

        # A scheduler killed with SIGKILL leaves a fresh heartbeat behind; it must not block a restart.
        first.kill(signal.SIGKILL)
        first.popen.wait(10)
    third = start_scheduler(settings, "scheduler-3")
    with third:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "Scheduler started" not in third.output():
            assert third.popen.poll() is None, third.output()
            time.sleep(0.1)
        assert "Scheduler started" in third.output()

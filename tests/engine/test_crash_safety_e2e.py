"""Crash safety with a real `slipstream scheduler` process: SIGKILL mid-run, zombies, orphans, SIGTERM."""

from __future__ import annotations

import os
import re
import signal
from datetime import timedelta

from sqlalchemy import select, update

from slipstream.scheduler.loop import SchedulerThread
from slipstream.storage.db import session_scope
from slipstream.storage.models import AuditLog, DagRun, Job, TaskInstance
from tests.engine.support import FAST_TIMERS, add_dag, read_log, task_instances, trigger, wait_for, wait_for_run
from tests.live_server import SLIPSTREAM, Process, environment

CRASH_DAG = """
from datetime import UTC, datetime, timedelta

from slipstream.sdk import DAG, BashOperator

with DAG("crash", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
    first = BashOperator(
        task_id="first",
        bash_command='if [ "$AIRFLOW_CTX_TRY_NUMBER" = "1" ]; then sleep {sleep}; fi',
        retries=1,
        retry_delay=timedelta(seconds=0.1),
    )
    first >> BashOperator(task_id="second", bash_command="echo done")
"""


def start_scheduler(settings, name: str) -> Process:
    return Process([*SLIPSTREAM, "scheduler"], environment(settings, **FAST_TIMERS), settings.home / f"{name}.log")


def running_ti(settings, run_id: str, task_id: str) -> TaskInstance | None:
    ti = task_instances(settings, "crash", run_id).get(task_id)
    return ti if ti is not None and ti.state == "running" else None


def fork_server_pid(process: Process) -> int:
    match = wait_for(lambda: re.search(r"fork server \(pid (\d+)\)", process.output()), 30, "the fork server")
    return int(match.group(1))


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie entry (not yet reaped by init) is gone too.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1].startswith("Z")
    except OSError:
        return True


def test_sigkill_mid_run_then_restart_loses_nothing(settings):
    add_dag(settings, "crash", CRASH_DAG.format(sleep=2))
    run_id = trigger(settings, "crash")
    first = start_scheduler(settings, "scheduler-1")
    try:
        wait_for(lambda: running_ti(settings, run_id, "first"), 30, "the first task to run")
        zygote = fork_server_pid(first)
        first.kill(signal.SIGKILL)
        first.popen.wait(10)
    finally:
        first.stop()
    # The fork server goes with its scheduler; the task process lives on and records its own outcome.
    wait_for(lambda: gone(zygote), 10, "the fork server to exit")

    second = start_scheduler(settings, "scheduler-2")
    try:
        assert wait_for_run(settings, "crash", run_id) == "success"
    finally:
        second.stop()
    tis = task_instances(settings, "crash", run_id)
    assert (tis["first"].state, tis["first"].try_number) == ("success", 1)
    assert tis["second"].state == "success"


def test_a_zombie_is_retried_after_a_crash_of_everything(settings):
    """Scheduler, fork server and task all killed: the heartbeat stops, the next scheduler finds a zombie."""
    add_dag(settings, "crash", CRASH_DAG.format(sleep=30))
    run_id = trigger(settings, "crash")
    first = start_scheduler(settings, "scheduler-1")
    try:
        ti = wait_for(lambda: running_ti(settings, run_id, "first"), 30, "the first task to run")
        zygote = fork_server_pid(first)
        for pid in (first.popen.pid, zygote, ti.pid):
            os.killpg(pid, signal.SIGKILL)
        first.popen.wait(10)
    finally:
        first.stop()

    second = start_scheduler(settings, "scheduler-2")
    try:
        # No heartbeat for zombie_threshold: handle_failure, so up_for_retry, then a second try.
        assert wait_for_run(settings, "crash", run_id) == "success"
    finally:
        second.stop()
    tis = task_instances(settings, "crash", run_id)
    assert (tis["first"].state, tis["first"].try_number) == ("success", 2)
    assert "Detected zombie" in read_log(settings, "crash", run_id, "first", 1)
    # The event log has Airflow's entries: the zombie's heartbeat timeout, then its failure.
    assert try_events(settings, run_id, "first") == [
        ("running", 1),
        ("heartbeat timeout", 1),
        ("failed", 1),
        ("running", 2),
    ]


def test_a_killed_task_is_retried_at_once(engine_settings, scheduler):
    """Its supervisor sees the process die without an outcome: handle_failure, no zombie wait."""
    add_dag(engine_settings, "crash", CRASH_DAG.format(sleep=30))
    run_id = trigger(engine_settings, "crash")
    ti = wait_for(lambda: running_ti(engine_settings, run_id, "first"), 30, "the first task to run")
    os.killpg(ti.pid, signal.SIGKILL)
    assert wait_for_run(engine_settings, "crash", run_id) == "success"
    tis = task_instances(engine_settings, "crash", run_id)
    assert (tis["first"].state, tis["first"].try_number) == ("success", 2)
    assert "exited with code -9 without recording a state" in read_log(engine_settings, "crash", run_id, "first", 1)


def try_events(settings, run_id: str, task_id: str) -> list[tuple[str, int]]:
    with session_scope(settings.database_url, write=False) as db:
        rows = db.execute(
            select(AuditLog.event, AuditLog.try_number)
            .where(AuditLog.run_id == run_id, AuditLog.task_id == task_id)
            .order_by(AuditLog.id)
        ).all()
    return [tuple(row) for row in rows]


def test_sigterm_lets_running_tasks_finish_and_ends_the_job(settings):
    add_dag(settings, "crash", CRASH_DAG.format(sleep=1.5))
    run_id = trigger(settings, "crash")
    scheduler = start_scheduler(settings, "scheduler")
    try:
        wait_for(lambda: running_ti(settings, run_id, "first"), 30, "the first task to run")
        zygote = fork_server_pid(scheduler)
        scheduler.popen.send_signal(signal.SIGTERM)
        assert scheduler.popen.wait(20) == 0
    finally:
        scheduler.stop()
    assert gone(zygote)
    tis = task_instances(settings, "crash", run_id)
    assert (tis["first"].state, tis["first"].try_number) == ("success", 1)
    # Stopped before queuing anything new: the downstream task waits for the next scheduler.
    assert tis["second"].state in (None, "scheduled")
    with session_scope(settings.database_url, write=False) as db:
        job = db.scalars(select(Job).order_by(Job.id.desc())).first()
    assert job.state == "success" and job.end_date is not None
    assert "Scheduler stopped" in scheduler.output()


def test_queued_tries_of_a_dead_scheduler_run_again(engine_settings):
    add_dag(engine_settings, "crash", CRASH_DAG.format(sleep=0))
    run_id = trigger(engine_settings, "crash")
    with session_scope(engine_settings.database_url) as db:
        run = db.scalar(select(DagRun).where(DagRun.run_id == run_id))
        dead = Job(job_type="SchedulerJob", state="running", hostname="gone", pid=1)
        db.add(dead)
        db.flush()
        dead.latest_heartbeat = dead.start_date = run.queued_at - timedelta(hours=1)
        run.state, run.start_date = "running", run.queued_at
        db.execute(
            update(TaskInstance)
            .where(TaskInstance.run_id == run_id, TaskInstance.task_id == "first")
            .values(state="queued", try_number=1, queued_by_job_id=dead.id, queued_dttm=run.queued_at)
        )
        dead_id = dead.id
    scheduler = SchedulerThread(engine_settings)
    scheduler.start()
    try:
        assert wait_for_run(engine_settings, "crash", run_id) == "success"
    finally:
        scheduler.stop()
    # Reset to None and scheduled again: the try that never ran is followed by a new one.
    assert task_instances(engine_settings, "crash", run_id)["first"].try_number == 2
    with session_scope(engine_settings.database_url, write=False) as db:
        assert db.get(Job, dead_id).state == "failed"


def test_a_task_outlives_its_fork_server_and_records_itself(engine_settings):
    """The fork server is killed mid-try: the task heartbeats and records its outcome on its own."""
    engine_settings = engine_settings.with_overrides(zombie_threshold=3.0)  # one task: no lock queue to wait in
    add_dag(engine_settings, "crash", CRASH_DAG.format(sleep=4))
    run_id = trigger(engine_settings, "crash")
    scheduler = SchedulerThread(engine_settings)
    scheduler.start()
    try:
        wait_for(lambda: running_ti(engine_settings, run_id, "first"), 30, "the first task to run")
        os.killpg(scheduler.job.executor._process.pid, signal.SIGKILL)
        # Longer than zombie_threshold (3 s): the heartbeat must go on without the fork server.
        assert wait_for_run(engine_settings, "crash", run_id) == "success"
    finally:
        scheduler.stop(timeout=30)
    tis = task_instances(engine_settings, "crash", run_id)
    assert (tis["first"].state, tis["first"].try_number) == ("success", 1)
    log = read_log(engine_settings, "crash", run_id, "first", 1)
    assert "records its own heartbeat and outcome" in log
    assert "Detected zombie" not in log

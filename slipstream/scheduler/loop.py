"""SchedulerJob: the scheduler loop (engine-semantics §0).

Each iteration: read executor events (and, on timers, look for zombies and orphans); create due
scheduled runs, start queued runs and examine running runs (one transaction); move what fits from
scheduled to queued (another transaction); hand those tries to the executor. When nothing
happened it waits for an executor event for up to settings.scheduler_loop_interval.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from slipstream.config import Settings
from slipstream.dates import utcnow
from slipstream.db import session_scope
from slipstream.models import Job
from slipstream.scheduler.dag_specs import DagSpecCache
from slipstream.scheduler.dagrun import ExamineReport, RunExaminer
from slipstream.scheduler.executors.base import BaseExecutor
from slipstream.scheduler.health import (
    SCHEDULER_JOB_TYPE,
    handle_executor_events,
    handle_zombies,
    refuse_second_scheduler_on_sqlite,
    reset_orphans,
    reset_own_queued,
)
from slipstream.scheduler.queueing import QueuedTask, queue_scheduled_tasks
from slipstream.scheduler.runs import RunActivity, RunCreator, run_activity, start_queued_runs
from slipstream.scheduler.write_lock import write_session

logger = logging.getLogger(__name__)

# Running runs of paused DAGs get their end decided this often (Airflow: 60 s).
PAUSED_RUNS_REFRESH_INTERVAL = 60.0
# How often schedules are checked for runs to create (a due run is created at most this late).
SCHEDULE_CHECK_INTERVAL = 0.25


def make_executor(settings: Settings) -> BaseExecutor:
    if settings.executor == "local":
        from slipstream.scheduler.executors.local import LocalExecutor

        return LocalExecutor(settings)
    if settings.executor == "celery":
        from slipstream.scheduler.executors.celery_executor import CeleryExecutor

        return CeleryExecutor(settings)
    raise ValueError(f"SLIPSTREAM_EXECUTOR={settings.executor!r} is not supported; use 'local' or 'celery'")


@dataclass
class LoopStats:
    """Where the scheduler's time goes (the benchmark reports it)."""

    iterations: int = 0
    busy_seconds: float = 0.0  # wall time inside run_once (includes waiting for the write lock)
    cpu_seconds: float = 0.0  # CPU time of the loop's thread inside run_once
    runs_created: int = 0
    tis_queued: int = 0


class _Timer:
    def __init__(self, interval: float, *, due_now: bool = False):
        self.interval = interval
        self.last = -float("inf") if due_now else time.monotonic()

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            return True
        return False


class SchedulerJob:
    def __init__(self, settings: Settings, executor: BaseExecutor | None = None):
        self.settings = settings
        self.executor = executor or make_executor(settings)
        self.specs = DagSpecCache()
        self.creator = RunCreator(self.specs)
        self.examiner = RunExaminer(self.specs)
        self.job_id: int | None = None
        self.stats = LoopStats()
        self._stop = threading.Event()
        self._heartbeat = _Timer(settings.scheduler_heartbeat_interval)
        self._zombies = _Timer(settings.zombie_check_interval)
        self._orphans = _Timer(max(1.0, settings.scheduler_health_check_threshold), due_now=True)
        self._paused_refresh = _Timer(PAUSED_RUNS_REFRESH_INTERVAL)
        self._schedules = _Timer(SCHEDULE_CHECK_INTERVAL, due_now=True)

    # -- lifecycle ----------------------------------------------------------------------------------
    def request_stop(self, *, immediate: bool = False) -> None:
        """Stop after this iteration; `immediate` also stops running tasks now instead of after the grace."""
        if immediate and self._stop.is_set():
            hurry = getattr(self.executor, "hurry", None)
            if hurry is not None:
                hurry()
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Run until request_stop(); then let running tasks finish (up to the grace) and end the job."""
        self._register()
        self.executor.job_id = self.job_id
        self.executor.start()
        logger.info("Scheduler started (job %s, pid %d)", self.job_id, os.getpid())
        try:
            while not self._stop.is_set():
                started = time.perf_counter()
                cpu_started = time.thread_time()
                try:
                    did_work = self.run_once()
                except OperationalError as exc:  # a locked or unreachable DB: try again shortly
                    logger.warning("Scheduler loop: database error, retrying: %s", exc)
                    did_work = False
                    self._stop.wait(0.5)
                except Exception:
                    logger.exception("Scheduler loop iteration failed")
                    did_work = False
                    self._stop.wait(1.0)
                self.stats.iterations += 1
                self.stats.busy_seconds += time.perf_counter() - started
                self.stats.cpu_seconds += time.thread_time() - cpu_started
                if not did_work and not self._stop.is_set():
                    self.executor.wait(self.settings.scheduler_loop_interval)
        finally:
            self._shutdown()

    # `slipstream scheduler` sets this: on SQLite, refuse to start beside a live scheduler.
    exclusive_on_sqlite = False

    def _register(self) -> None:
        now = utcnow()
        # write_session: on SQLite the check and the insert are one write transaction behind the
        # engine's write lock, so two schedulers starting at once cannot both pass the check.
        with write_session(self.settings.database_url) as session:
            if self.exclusive_on_sqlite and self.settings.is_sqlite:
                refuse_second_scheduler_on_sqlite(
                    session, now=now, health_threshold=self.settings.scheduler_health_check_threshold
                )
            job = Job(
                job_type=SCHEDULER_JOB_TYPE,
                state="running",
                hostname=socket.getfqdn(),
                pid=os.getpid(),
                start_date=now,
                latest_heartbeat=now,
            )
            session.add(job)
            session.flush()
            self.job_id = job.id

    def _shutdown(self) -> None:
        logger.info("Scheduler stopping")
        url = self.settings.database_url
        try:
            with write_session(url) as session:
                reset_own_queued(session, job_id=self.job_id)
        except Exception:
            logger.exception("Could not reset queued task instances")
        events = self.executor.end(self.settings.scheduler_shutdown_grace)
        try:
            with write_session(url) as session:
                handle_executor_events(session, self.specs, events, now=utcnow(), logs_folder=self.settings.logs_folder)
                session.execute(update(Job).where(Job.id == self.job_id).values(state="success", end_date=utcnow()))
        except Exception:
            logger.exception("Could not record the scheduler's end")
        logger.info("Scheduler stopped")

    # -- one iteration --------------------------------------------------------------------------------
    def run_once(self) -> bool:
        """One pass of the loop; True when anything changed (so the next pass should come at once).

        Unless a task finished or a timer is due, a read-only look comes first, so an idle pass takes
        no write lock. Then the scheduling step in one transaction (executor events, zombies,
        orphans, the job heartbeat, new runs, started runs, examined runs) and the critical section
        in another (what fits goes from scheduled to queued and on to the executor).
        """
        url = self.settings.database_url
        logs = self.settings.logs_folder
        events = self.executor.get_events()
        finished = [e for e in events if e.kind != "started"]
        zombies_due = self._zombies.due()
        orphans_due = self._orphans.due()
        heartbeat_due = self._heartbeat.due()
        refresh_paused = self._paused_refresh.due()
        schedules_due = self._schedules.due()
        now = utcnow()
        if finished or zombies_due or orphans_due or heartbeat_due or refresh_paused:
            due = None  # decided inside the write transaction
            activity = RunActivity(running=True, startable=True, scheduled=True)
        else:
            with session_scope(url, write=False) as session:
                due = self.creator.due_runs(session, now) if schedules_due else []
                activity = run_activity(session, now)
            busy = activity.running or activity.startable
            if not (due or busy or self.creator.has_unwritten):
                self.executor.heartbeat()
                return False

        work = 0
        report = ExamineReport()
        created: list[tuple[str, str]] = []
        started: list[tuple[str, str]] = []
        queued: list[QueuedTask] = []
        # The scheduling step: one transaction.
        with write_session(url) as session:
            if finished:
                work += handle_executor_events(session, self.specs, finished, now=now, logs_folder=logs)
            if zombies_due:
                threshold = self.settings.zombie_threshold
                work += handle_zombies(session, self.specs, now=now, threshold=threshold, logs_folder=logs)
            if orphans_due:
                threshold = self.settings.scheduler_health_check_threshold
                work += reset_orphans(session, my_job_id=self.job_id, now=now, health_threshold=threshold)
            if heartbeat_due:
                session.execute(update(Job).where(Job.id == self.job_id).values(latest_heartbeat=now, state="running"))
            if due is None:
                due = self.creator.due_runs(session, now) if schedules_due else []
            created = self.creator.create_runs(session, due, now)
            started = start_queued_runs(session, self.specs, now) if activity.startable else []
            report = self.examiner.examine_running_runs(session, now, paused_too=refresh_paused)
        # The critical section: another transaction, so `scheduled` is a state others can see.
        may_queue = activity.scheduled or report.changed_tis or finished
        if may_queue and self.executor.open_slots > 0 and not self._stop.is_set():
            with write_session(url) as session:
                queued = queue_scheduled_tasks(
                    session,
                    self.specs,
                    now=utcnow(),
                    job_id=self.job_id,
                    executor_slots=self.executor.open_slots,
                    max_tis=self.settings.max_tis_per_query,
                )
        for task in queued:
            self.executor.queue_task(task)
        self.executor.heartbeat()
        self.stats.runs_created += len(created)
        self.stats.tis_queued += len(queued)
        return bool(work or created or started or report.did_work or queued)


class SchedulerThread(threading.Thread):
    """A SchedulerJob in a thread (tests, embedding); stop() ends it cleanly."""

    def __init__(self, settings: Settings):
        super().__init__(name="slipstream-scheduler", daemon=True)
        self.job = SchedulerJob(settings)

    def run(self) -> None:
        self.job.run()

    def stop(self, timeout: float | None = 30) -> None:
        self.job.request_stop()
        self.join(timeout)

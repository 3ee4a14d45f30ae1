"""SchedulerJob: the scheduler loop (engine-semantics §0).

Each iteration: read executor events (and, on timers, look for zombies and orphans); create due
scheduled runs, start queued runs and examine running runs (one transaction); move what fits from
scheduled to queued (another transaction); hand those tries to the executor. When nothing
happened it waits for an executor event for up to settings.scheduler_loop_interval.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from slipstream.config import Settings
from slipstream.dates import utcnow
from slipstream.scheduler.dag_callbacks import DagCallbackRunner
from slipstream.scheduler.dag_specs import DagSpecCache
from slipstream.scheduler.dagrun import ExamineReport, RunExaminer
from slipstream.scheduler.dataset_runs import create_dataset_triggered_runs, has_queued_datasets
from slipstream.scheduler.executors.base import BaseExecutor, TaskEvent
from slipstream.scheduler.health import (
    SCHEDULER_JOB_TYPE,
    handle_executor_events,
    handle_zombies,
    refuse_second_scheduler_on_sqlite,
    register_job,
    reset_orphans,
    reset_own_queued,
)
from slipstream.scheduler.queueing import QueuedTask, queue_scheduled_tasks
from slipstream.scheduler.runs import (
    MAX_QUEUED_RUNS_TO_START,
    RunActivity,
    RunCreator,
    run_activity,
    start_queued_runs,
)
from slipstream.scheduler.triggerer import expire_trigger_timeouts
from slipstream.scheduler.write_lock import write_session
from slipstream.storage.db import session_scope
from slipstream.storage.db_errors import DatabaseOutage
from slipstream.storage.encryption import cipher_for
from slipstream.storage.models import Job

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

    def postpone(self, seconds: float) -> None:
        """Not due again before `seconds` from now (plus the interval)."""
        self.last = max(self.last, time.monotonic() + seconds)

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
        self.examiner = RunExaminer(self.specs, cipher=cipher_for(settings))
        self.dag_callbacks = DagCallbackRunner(settings)
        self.job_id: int | None = None
        self.stats = LoopStats()
        self._stop = threading.Event()
        self._heartbeat = _Timer(settings.scheduler_heartbeat_interval)
        self._zombies = _Timer(settings.zombie_check_interval)
        self._orphans = _Timer(max(1.0, settings.scheduler_health_check_threshold), due_now=True)
        self._paused_refresh = _Timer(PAUSED_RUNS_REFRESH_INTERVAL)
        self._schedules = _Timer(SCHEDULE_CHECK_INTERVAL, due_now=True)
        self.outage = DatabaseOutage("Scheduler", logger)
        self._unhandled_events: list[TaskEvent] = []

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
        if not self._register_when_reachable():
            return  # stopped while waiting for the database
        self.executor.job_id = self.job_id
        self.executor.start()
        logger.info("Scheduler started (job %s, pid %d)", self.job_id, os.getpid())
        try:
            while not self._stop.is_set():
                started = time.perf_counter()
                cpu_started = time.thread_time()
                try:
                    did_work = self.run_once()
                except Exception as exc:
                    did_work = False
                    self._forget_uncommitted()
                    if self.outage.is_outage(exc):  # unreachable, disk full, locked: wait and try again
                        self._stop.wait(self.outage.failed(exc))
                    elif isinstance(exc, OperationalError):
                        logger.warning("Scheduler loop: database error, retrying: %s", exc)
                        self._stop.wait(0.5)
                    else:
                        logger.exception("Scheduler loop iteration failed")
                        self._stop.wait(1.0)
                else:
                    lasted = self.outage.succeeded()
                    if lasted is not None:
                        self._after_outage(lasted)
                self.stats.iterations += 1
                self.stats.busy_seconds += time.perf_counter() - started
                self.stats.cpu_seconds += time.thread_time() - cpu_started
                if not did_work and not self._stop.is_set():
                    self._idle(self.settings.scheduler_loop_interval)
        finally:
            self._shutdown()

    def _idle(self, interval: float) -> None:
        """Wait up to `interval` for an executor event. A try's start changes nothing the scheduler
        decides, so a wake-up that brought only starts waits on: a pass then would only take the write
        lock the fork server needs to claim the try that just started."""
        deadline = time.monotonic() + interval
        while not self._stop.is_set():
            self.executor.wait(max(0.0, deadline - time.monotonic()))
            events = self.executor.get_events()
            self._unhandled_events += [e for e in events if e.kind != "started"]
            if not events or self._unhandled_events or time.monotonic() >= deadline:
                return

    # `slipstream scheduler` sets this: on SQLite, refuse to start beside a live scheduler.
    exclusive_on_sqlite = False

    def _register_when_reachable(self) -> bool:
        """Register the job, waiting (with backoff) while the database cannot answer; False if stopped."""
        while not self._stop.is_set():
            try:
                self._register()
            except Exception as exc:
                if not self.outage.is_outage(exc):
                    raise
                self._stop.wait(self.outage.failed(exc))
            else:
                self.outage.succeeded()
                return True
        return False

    def _forget_uncommitted(self) -> None:
        """A pass failed and its transaction was rolled back: drop what this process remembered of it
        (each DAG's next run, which runs were examined) so the next pass decides again from the
        database. The executor events it read stay in self._unhandled_events."""
        self.creator.forget_all()
        self.examiner.forget_all()

    def _after_outage(self, lasted: float) -> None:
        """Task heartbeats could not be written during the outage either: give the fork server a
        zombie threshold to write them before looking for zombies or orphans again."""
        grace = max(self.settings.zombie_threshold, self.settings.scheduler_health_check_threshold)
        self._zombies.postpone(grace)
        self._orphans.postpone(grace)
        logger.info(
            "Scheduler: zombie and orphan checks resume in %.0f s, after the outage of %.1f s", grace, lasted or 0
        )

    def _register(self) -> None:
        now = utcnow()
        # write_session: on SQLite the check and the insert are one write transaction behind the
        # engine's write lock, so two schedulers starting at once cannot both pass the check.
        with write_session(self.settings.database_url) as session:
            if self.exclusive_on_sqlite and self.settings.is_sqlite:
                refuse_second_scheduler_on_sqlite(
                    session, now=now, health_threshold=self.settings.scheduler_health_check_threshold
                )
            self.job_id = register_job(session, SCHEDULER_JOB_TYPE, now)

    def _shutdown(self) -> None:
        logger.info("Scheduler stopping")
        url = self.settings.database_url
        try:
            with write_session(url) as session:
                reset_own_queued(session, job_id=self.job_id)
        except Exception:
            logger.exception("Could not reset queued task instances")
        events = self.executor.end(self.settings.scheduler_shutdown_grace)
        if not self.dag_callbacks.drain(self.settings.scheduler_shutdown_grace):
            logger.warning("DAG callbacks still running at shutdown were abandoned")
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
        # Events of a pass that failed are handled again in this one (their transaction was rolled back).
        self._unhandled_events += [e for e in self.executor.get_events() if e.kind != "started"]
        finished = list(self._unhandled_events)
        zombies_due = self._zombies.due()
        orphans_due = self._orphans.due()
        heartbeat_due = self._heartbeat.due()
        refresh_paused = self._paused_refresh.due()
        schedules_due = self._schedules.due()
        now = utcnow()
        datasets_due = False
        if finished or zombies_due or orphans_due or heartbeat_due or refresh_paused:
            due = None  # decided inside the write transaction
            activity = RunActivity(running=True, startable=True, scheduled=True)
        else:
            with session_scope(url, write=False) as session:
                due = self.creator.due_runs(session, now) if schedules_due else []
                activity = run_activity(session, now)
                datasets_due = schedules_due and has_queued_datasets(session)
            busy = activity.running or activity.startable
            if not (due or busy or self.creator.has_unwritten or datasets_due):
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
                work += expire_trigger_timeouts(session, now)  # deferred tries past their trigger_timeout
            if due is None:
                due = self.creator.due_runs(session, now) if schedules_due else []
            created = self.creator.create_runs(session, due, now)
            if schedules_due:
                created += create_dataset_triggered_runs(session, self.specs, now)
            if activity.startable:
                started = start_queued_runs(session, self.specs, now, limit=self._run_start_budget())
            report = self.examiner.examine_running_runs(session, now, paused_too=refresh_paused)
            if self.settings.is_sqlite:
                # SQLite has one writer at a time, so no other scheduler needs to see `scheduled` between
                # the steps: queue in the same transaction and save a write-lock round per task hop.
                queued = self._critical_section(session, activity, report, finished)
        self._unhandled_events = []  # committed
        if not self.settings.is_sqlite:
            # The critical section: another transaction, so `scheduled` is a state others can see.
            with write_session(url) as session:
                queued = self._critical_section(session, activity, report, finished)
        for callback in report.dag_callbacks:  # committed: the run's end state is what they see
            self.dag_callbacks.submit(callback)
        for task in queued:
            self.executor.queue_task(task)
        self.executor.heartbeat()
        self.stats.runs_created += len(created)
        self.stats.tis_queued += len(queued)
        if self.settings.is_sqlite and not (work or created or started or report.finished_runs):
            # What this pass scheduled it also queued, in the same transaction: another pass now could
            # only hold the write lock the fork server needs to start those tasks. The next executor
            # event (or the loop interval) brings the next pass.
            return False
        return bool(work or created or started or report.did_work or queued)

    def _run_start_budget(self) -> int:
        """How many queued runs may start now: as many as the executor has open slots for.

        A run started while every slot is taken would only wait, `running`, for a slot: under a burst
        of triggers (max_active_runs above parallelism) each started run waited seconds for its first
        task. Kept `queued` instead, a run starts when its first task can go to the executor in the
        same pass, so its start_date is when its work starts.
        """
        slots = self.executor.open_slots
        return MAX_QUEUED_RUNS_TO_START if slots == math.inf else int(slots)

    def _critical_section(self, session, activity, report, finished) -> list[QueuedTask]:
        """What fits goes from scheduled to queued (pools, parallelism, max_active_tasks)."""
        may_queue = activity.scheduled or report.changed_tis or finished
        if not may_queue or self.executor.open_slots <= 0 or self._stop.is_set():
            return []
        return queue_scheduled_tasks(
            session,
            self.specs,
            now=utcnow(),
            job_id=self.job_id,
            executor_slots=self.executor.open_slots,
            max_tis=self.settings.max_tis_per_query,
        )


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

"""TriggererJob (task-model-semantics §10): runs the triggers deferred task instances wait on.

One asyncio event loop runs every trigger this triggerer holds as a task. Database work happens
in a worker thread, once per loop round (or at once when a trigger fires): heartbeat this job,
claim triggers that deferred instances wait on and no live triggerer holds, hand fired events to
their instances (deferred -> scheduled, with the event in `next_kwargs`; or straight to an end
state for a TaskSuccessEvent and friends), and drop triggers nobody waits on any more.

Several triggerers may run (PostgreSQL): a trigger belongs to one of them (`trigger.triggerer_id`);
those of a triggerer silent for the health threshold (killed, say) are taken over by the others,
so a deferred task survives its triggerer's death.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from slipstream.config import Settings
from slipstream.dates import utcnow
from slipstream.scheduler.health import register_job
from slipstream.scheduler.transitions import set_tis_state
from slipstream.scheduler.waiting import FAIL_METHOD, decode_trigger_kwargs
from slipstream.scheduler.write_lock import write_session
from slipstream.sdk import metastore, xcom_serde
from slipstream.services.clearing import delete_unused_triggers
from slipstream.states import TaskInstanceState as TI
from slipstream.storage.db_errors import DatabaseOutage
from slipstream.storage.models import Job, TaskInstance, Trigger

logger = logging.getLogger(__name__)

TRIGGERER_JOB_TYPE = "TriggererJob"
# [triggerer] default_capacity: the most triggers one triggerer runs at once.
DEFAULT_CAPACITY = 1000
# A trigger no deferred instance waits on is deleted once this old (younger ones may be mid-deferral).
UNUSED_TRIGGER_AGE = 60.0


@dataclass
class _Outbox:
    """What the event loop learned since the last database round (only touched on the loop's thread)."""

    events: list[tuple[int, Any]] = field(default_factory=list)
    failures: list[tuple[int, list[str]]] = field(default_factory=list)

    def take(self) -> _Outbox:
        taken = _Outbox(self.events, self.failures)
        self.events, self.failures = [], []
        return taken


def load_trigger(classpath: str, kwargs: dict[str, Any]) -> Any:
    module_name, _, class_name = classpath.rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)(**kwargs)


class TriggererJob:
    def __init__(self, settings: Settings, *, capacity: int = DEFAULT_CAPACITY, interval: float = 1.0):
        self.settings = settings
        self.capacity = capacity
        self.interval = interval
        self.health_threshold = settings.scheduler_health_check_threshold
        self.job_id: int | None = None
        self._stop = threading.Event()
        self.outage = DatabaseOutage("Triggerer", logger)
        self._running: dict[int, asyncio.Task] = {}
        self._outbox = _Outbox()
        self._wake: asyncio.Event | None = None

    def request_stop(self) -> None:
        self._stop.set()
        loop, wake = getattr(self, "_loop", None), self._wake
        if loop is not None and wake is not None:
            loop.call_soon_threadsafe(wake.set)

    @property
    def running_triggers(self) -> int:
        return len(self._running)

    def run(self) -> None:
        from slipstream.airflow_namespace import install

        install()  # triggers may come from DAG files' modules, which import `airflow`
        if self.settings.dags_folder is not None and str(self.settings.dags_folder) not in sys.path:
            sys.path.append(str(self.settings.dags_folder))
        metastore.bind_settings(self.settings)
        while True:  # wait for the database if it cannot answer yet
            try:
                self._register()
                break
            except Exception as exc:
                if not self.outage.is_outage(exc):
                    raise
                if self._stop.wait(self.outage.failed(exc)):
                    return
        self.outage.succeeded()
        logger.info("Triggerer started (job %s, pid %d, capacity %d)", self.job_id, os.getpid(), self.capacity)
        try:
            asyncio.run(self._main())
        finally:
            self._end()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        while not self._stop.is_set():
            outbox = self._outbox.take()
            pause = self.interval
            try:
                new, cancel = await asyncio.to_thread(self._database_round, outbox, set(self._running))
            except Exception as exc:
                if self.outage.is_outage(exc):  # logged once per outage; triggers keep running meanwhile
                    pause = self.outage.failed(exc)
                else:
                    logger.exception("Triggerer database round failed; retrying")
                # Not handed over: try these again next round.
                self._outbox.events[:0], self._outbox.failures[:0] = outbox.events, outbox.failures
                new, cancel = [], []
            else:
                self.outage.succeeded()
            for trigger_id in cancel:
                task = self._running.pop(trigger_id, None)
                if task is not None:
                    task.cancel()
            for trigger_id, trigger in new:
                self._running[trigger_id] = asyncio.create_task(self._run_trigger(trigger_id, trigger))
            self._wake.clear()
            try:
                if self.outage.ongoing:  # events that fire meanwhile wait in the outbox
                    waited_until = time.monotonic() + pause
                    while time.monotonic() < waited_until and not self._stop.is_set():
                        await asyncio.sleep(min(0.25, pause))
                else:
                    await asyncio.wait_for(self._wake.wait(), timeout=pause)
            except TimeoutError:
                pass
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _run_trigger(self, trigger_id: int, trigger: Any) -> None:
        try:
            async for event in trigger.run():
                self._outbox.events.append((trigger_id, event))
                break  # the first event is the one that counts
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            logger.warning("Trigger %d failed: %r", trigger_id, exc)
            lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
            self._outbox.failures.append((trigger_id, [line.rstrip("\n") for line in lines]))
        finally:
            try:
                await trigger.cleanup()
            except Exception:
                logger.exception("Trigger %d cleanup failed", trigger_id)
        self._running.pop(trigger_id, None)
        if self._wake is not None:
            self._wake.set()

    # -- the database side (a worker thread) ------------------------------------------------------------
    def _register(self) -> None:
        now = utcnow()
        with write_session(self.settings.database_url) as session:
            self.job_id = register_job(session, TRIGGERER_JOB_TYPE, now)

    def _end(self) -> None:
        try:
            with write_session(self.settings.database_url) as session:
                # Our triggers go back to the pool for another triggerer (or ours, restarted).
                session.execute(update(Trigger).where(Trigger.triggerer_id == self.job_id).values(triggerer_id=None))
                session.execute(update(Job).where(Job.id == self.job_id).values(state="success", end_date=utcnow()))
        except Exception:
            logger.exception("Could not record the triggerer's end")
        logger.info("Triggerer stopped")

    def _database_round(self, outbox: _Outbox, running: set[int]) -> tuple[list[tuple[int, Any]], list[int]]:
        now = utcnow()
        with write_session(self.settings.database_url) as session:
            session.execute(update(Job).where(Job.id == self.job_id).values(latest_heartbeat=now, state="running"))
            for trigger_id, event in outbox.events:
                submit_event(session, trigger_id, event, now=now)
            for trigger_id, lines in outbox.failures:
                submit_failure(session, trigger_id, lines)
            fired = [trigger_id for trigger_id, _ in outbox.events + outbox.failures]
            delete_unused_triggers(session, fired=fired, created_before=now - timedelta(seconds=UNUSED_TRIGGER_AGE))
            alive = self._alive_triggerers(session, now)
            # Ours that no deferred instance waits on any more (cleared, timed out), or taken over.
            waited_on = set(
                session.scalars(
                    select(Trigger.id).where(
                        Trigger.triggerer_id == self.job_id,
                        Trigger.id.in_(select(TaskInstance.trigger_id).where(TaskInstance.state == TI.DEFERRED.value)),
                    )
                )
            )
            cancel = [trigger_id for trigger_id in running if trigger_id not in waited_on]
            room = self.capacity - (len(running) - len(cancel))
            new: list[tuple[int, Any]] = []
            if room > 0:
                rows = session.execute(
                    select(Trigger.id, Trigger.classpath, Trigger.kwargs)
                    .where(
                        Trigger.id.in_(select(TaskInstance.trigger_id).where(TaskInstance.state == TI.DEFERRED.value)),
                        or_(Trigger.triggerer_id.is_(None), Trigger.triggerer_id.not_in(alive)),
                    )
                    .order_by(Trigger.id)
                    .limit(room)
                    .with_for_update(skip_locked=True)
                ).all()
                for trigger_id, classpath, kwargs in rows:
                    session.execute(update(Trigger).where(Trigger.id == trigger_id).values(triggerer_id=self.job_id))
                    try:
                        new.append((trigger_id, load_trigger(classpath, decode_trigger_kwargs(kwargs))))
                    except Exception as exc:
                        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
                        submit_failure(session, trigger_id, [line.rstrip("\n") for line in lines])
        return new, cancel

    def _alive_triggerers(self, session, now: datetime) -> list[int]:
        limit = now - timedelta(seconds=self.health_threshold)
        session.execute(
            update(Job)
            .where(Job.job_type == TRIGGERER_JOB_TYPE, Job.state == "running", Job.latest_heartbeat < limit)
            .values(state="failed", end_date=now)
            .execution_options(synchronize_session=False)
        )
        return list(session.scalars(select(Job.id).where(Job.job_type == TRIGGERER_JOB_TYPE, Job.state == "running")))


def _waiting_instances(session, trigger_id: int) -> list[tuple[int, Any]]:
    return session.execute(
        select(TaskInstance.id, TaskInstance.next_kwargs).where(
            TaskInstance.trigger_id == trigger_id, TaskInstance.state == TI.DEFERRED.value
        )
    ).all()


def submit_event(session, trigger_id: int, event: Any, *, now: datetime) -> None:
    """The instances waiting on the trigger resume (scheduled, same try), or end as the event says."""
    from slipstream.sdk.triggers.base import BaseTaskEndEvent

    for ti_id, next_kwargs in _waiting_instances(session, trigger_id):
        if isinstance(event, BaseTaskEndEvent):
            set_tis_state(
                session,
                [ti_id],
                old=TI.DEFERRED,
                new=event.task_instance_state,
                end_date=now,
                trigger_id=None,
                trigger_timeout=None,
                next_method=None,
                next_kwargs=None,
            )
            continue
        kwargs = dict(next_kwargs or {})
        kwargs["event"] = xcom_serde.encode(event.payload)
        set_tis_state(
            session,
            [ti_id],
            old=TI.DEFERRED,
            new=TI.SCHEDULED,
            next_kwargs=kwargs,
            trigger_id=None,
            trigger_timeout=None,
        )


def submit_failure(session, trigger_id: int, lines: list[str]) -> None:
    """The instances resume only to fail with the trigger's traceback (retries apply)."""
    for ti_id, _ in _waiting_instances(session, trigger_id):
        set_tis_state(
            session,
            [ti_id],
            old=TI.DEFERRED,
            new=TI.SCHEDULED,
            next_method=FAIL_METHOD,
            next_kwargs={"error": "Trigger failure", "traceback": lines},
            trigger_id=None,
            trigger_timeout=None,
        )


def expire_trigger_timeouts(session, now: datetime) -> int:
    """Deferred instances past their trigger_timeout resume only to fail (the scheduler calls this)."""
    ids = list(
        session.scalars(
            select(TaskInstance.id).where(
                TaskInstance.state == TI.DEFERRED.value,
                TaskInstance.trigger_timeout.is_not(None),
                TaskInstance.trigger_timeout < now,
            )
        )
    )
    if not ids:
        return 0
    return set_tis_state(
        session,
        ids,
        old=TI.DEFERRED,
        new=TI.SCHEDULED,
        next_method=FAIL_METHOD,
        next_kwargs={"error": "Trigger/execution timeout"},
        trigger_id=None,
        trigger_timeout=None,
    )


class TriggererThread(threading.Thread):
    """A TriggererJob in a thread (tests, embedding)."""

    def __init__(self, settings: Settings, **kwargs: Any):
        super().__init__(name="slipstream-triggerer", daemon=True)
        self.job = TriggererJob(settings, **kwargs)

    def run(self) -> None:
        self.job.run()

    def stop(self, timeout: float | None = 30) -> None:
        self.job.request_stop()
        self.join(timeout)

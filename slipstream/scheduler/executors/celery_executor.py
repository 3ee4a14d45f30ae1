"""CeleryExecutor: tries run on `slipstream worker` processes, on any machine, through a Celery broker.

The scheduler sends each try to the Celery queue named by the task's `queue` (Redis by default,
RabbitMQ works too: SLIPSTREAM_CELERY_BROKER_URL). The worker runs it as the LocalExecutor would
(celery_app.run_task_instance), so the task process claims the try, heartbeats it and records its
outcome in the database. The database is the truth the scheduler reads back: a try handed over is
"exited" once its task instance is no longer queued or running for that try number.

- A worker killed mid-task stops the heartbeat: the scheduler's zombie detection applies
  handle_failure (up_for_retry or failed, as the task's retries say).
- A try still `queued` after SLIPSTREAM_TASK_QUEUED_TIMEOUT (no worker took it, the message was
  lost) is sent once more, then failed with handle_failure (Airflow's stuck-in-queued).
- A broker that does not answer: the try goes back to None (it never ran) and nothing more is
  queued for a few seconds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from slipstream.config import Settings
from slipstream.scheduler.executors.base import BaseExecutor, TaskEvent
from slipstream.scheduler.executors.celery_app import DEFAULT_QUEUE, EXAMPLE_DAGS, TASK_NAME, make_celery_app
from slipstream.scheduler.executors.local import run_request
from slipstream.scheduler.queueing import QueuedTask
from slipstream.states import TaskInstanceState as TI
from slipstream.storage.db import session_scope
from slipstream.storage.models import TaskInstance

logger = logging.getLogger(__name__)

# How often the states of the tries handed over are read back (one indexed SELECT).
POLL_INTERVAL = 0.25
# After a failed publish, nothing more is queued for this long.
BROKER_BACKOFF = 5.0
# A try stuck in queued is sent this many times in all before it is failed.
MAX_SENDS = 2

_LIVE = (TI.QUEUED.value, TI.RUNNING.value)


@dataclass
class _Sent:
    at: float  # time.monotonic() of the last send
    sends: int = 1


def _relative(path: str, folder: Path | None) -> str | None:
    if not path or folder is None:
        return None
    try:
        return str(Path(path).resolve().relative_to(Path(folder).resolve()))
    except ValueError:
        return None


class CeleryExecutor(BaseExecutor):
    def __init__(self, settings: Settings, job_id: int | None = None):
        super().__init__(settings.parallelism)
        self.settings = settings
        self.job_id = job_id
        self.app: Any = None
        self._pending: list[QueuedTask] = []
        self._events: list[TaskEvent] = []
        self._sent: dict[tuple[int, int], _Sent] = {}
        self._next_poll = 0.0
        self._broker_down_until = 0.0

    @property
    def open_slots(self) -> float:
        if time.monotonic() < self._broker_down_until:
            return 0
        return super().open_slots

    def start(self) -> None:
        self.app = make_celery_app(self.settings)
        logger.info(
            "CeleryExecutor started: broker %s, parallelism %d",
            _redact(self.settings.celery_broker_url),
            self.parallelism,
        )

    # -- sending -----------------------------------------------------------------------------------
    def request_for(self, task: QueuedTask) -> dict[str, Any]:
        request = run_request(task, self.job_id)
        request["dags_relpath"] = _relative(task.fileloc, self.settings.dags_folder)
        request["examples_relpath"] = _relative(task.fileloc, EXAMPLE_DAGS)
        return request

    def _send(self, task: QueuedTask) -> bool:
        if self.app is None:
            self.start()
        try:
            self.app.send_task(TASK_NAME, args=[self.request_for(task)], queue=task.queue or DEFAULT_QUEUE)
            return True
        except Exception as exc:  # the broker is down or refuses: kombu's errors have no common base
            logger.error("Could not send %s.%s try %d to Celery: %s", task.dag_id, task.task_id, task.try_number, exc)
            return False

    def queue_task(self, task: QueuedTask) -> None:
        self._pending.append(task)

    def heartbeat(self) -> None:
        if self._pending:
            # Highest priority first; stable, so equal weights keep their queueing order.
            pending, self._pending = sorted(self._pending, key=lambda t: -t.priority_weight), []
            for index, task in enumerate(pending):
                if not self._send(task):
                    # It never ran: back to None, like a try the fork server could not start.
                    for lost in pending[index:]:
                        self._events.append(TaskEvent(lost.ti_id, lost.try_number, "lost"))
                    self._broker_down_until = time.monotonic() + BROKER_BACKOFF
                    break
                self.running[task.key] = task
                self._sent[task.key] = _Sent(at=time.monotonic())
        if self.running and time.monotonic() >= self._next_poll:
            self._next_poll = time.monotonic() + POLL_INTERVAL
            try:
                self._poll()
            except Exception as exc:  # a busy or unreachable DB: the next heartbeat reads again
                logger.warning("CeleryExecutor: could not read task states: %s", exc)

    # -- reading back ---------------------------------------------------------------------------------
    def _poll(self) -> None:
        keys = list(self.running)
        with session_scope(self.settings.database_url, write=False) as session:
            rows = {
                row.id: (row.state, row.try_number)
                for row in session.execute(
                    select(TaskInstance.id, TaskInstance.state, TaskInstance.try_number).where(
                        TaskInstance.id.in_({key[0] for key in keys})
                    )
                )
            }
        now = time.monotonic()
        for key in keys:
            state, try_number = rows.get(key[0], (None, None))
            if try_number == key[1] and state in _LIVE:
                if state == TI.QUEUED.value:
                    self._check_stuck(key, now)
                continue
            # Finished, up for retry, reset or cleared: this try is over, whatever its outcome.
            self._forget(key)
            self._events.append(TaskEvent(key[0], key[1], "exited"))

    def _check_stuck(self, key: tuple[int, int], now: float) -> None:
        sent = self._sent.get(key)
        timeout = self.settings.task_queued_timeout
        if sent is None or timeout <= 0 or now - sent.at < timeout:
            return
        task = self.running[key]
        if sent.sends < MAX_SENDS:
            logger.warning(
                "%s.%s %s try %d queued for more than %g s: sending it again",
                task.dag_id,
                task.task_id,
                task.run_id,
                task.try_number,
                timeout,
            )
            if self._send(task):
                sent.sends += 1
            sent.at = now
            return
        self._forget(key)
        reason = f"Task stuck in queued for more than {timeout:g} s (sent to Celery {sent.sends} times)"
        self._events.append(TaskEvent(key[0], key[1], "exited", reason=reason))

    def _forget(self, key: tuple[int, int]) -> None:
        self.running.pop(key, None)
        self._sent.pop(key, None)

    # -- the rest of the interface --------------------------------------------------------------------
    def get_events(self) -> list[TaskEvent]:
        events, self._events = self._events, []
        return events

    def has_events(self) -> bool:
        return bool(self._events)

    def wait(self, timeout: float) -> None:
        if self._events:
            return
        time.sleep(max(0.0, min(timeout, POLL_INTERVAL)))

    def end(self, grace: float) -> list[TaskEvent]:
        """Tries on workers are theirs to finish: nothing to wait for. Unsent tries are dropped (the
        scheduler has reset them to None); one last look reports what finished."""
        for task in self._pending:
            self._events.append(TaskEvent(task.ti_id, task.try_number, "lost"))
        self._pending = []
        if self.running:
            try:
                self._poll()
            except Exception as exc:
                logger.warning("CeleryExecutor: could not read task states: %s", exc)
        if self.running:
            logger.info("%d task(s) go on running on Celery workers", len(self.running))
        if self.app is not None:
            self.app.close()
        return self.get_events()

    def terminate(self) -> None:
        """Tries on workers are not ours to kill; they go on and record their own outcomes."""
        self._pending = []


def _redact(url: str) -> str:
    """The broker URL without its password."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url

"""The Celery side of the Celery executor: the app (configured from Settings) and the one task it runs.

`run_task_instance(request)` runs one try on the worker's host exactly as the LocalExecutor does: a
warm fork server (executors/zygote.py) forks the task process, claims the try (queued -> running),
heartbeats it, records its outcome and writes its log. The database is the only channel back to the
scheduler; no result backend is used.

Each worker process (a prefork child, or the solo worker) keeps one fork server, started on its first
try and reused for every later one, so a try does not pay for a cold interpreter. The fork server runs
in the worker's process group (stopping the worker's group stops it); each task process has its own
group and, as under the LocalExecutor, outlives its fork server: it then records its own heartbeat
and outcome. A fork server found dead is replaced before the next try; a try it had not yet claimed
(still `queued`) is run once more on the new one, a claimed one is left to its task process or, if
that is gone too, to the scheduler's zombie detection. When the worker process ends, the fork
server's stdin is closed: it starts nothing new, sees its running tries through, then exits.

Messages are acknowledged late and rejected when the worker process is lost, so a message whose
worker died is delivered again (RabbitMQ at once, Redis after its visibility timeout). A delivery
for a try that is no longer `queued` with that try number does nothing: the task is checked here
first, and the fork server's claim checks again in the same transaction as the state change.
"""

from __future__ import annotations

import atexit
import logging
import os
import select
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
from celery import Celery, signals
from sqlalchemy import select as sql_select

import slipstream
from slipstream.config import Settings
from slipstream.scheduler.executors.zygote import close_pipes, settings_to_dict
from slipstream.states import TaskInstanceState as TI
from slipstream.storage.db import session_scope
from slipstream.storage.models import TaskInstance

logger = logging.getLogger(__name__)

TASK_NAME = "slipstream.run_task_instance"
DEFAULT_QUEUE = "default"

_SLIPSTREAM_ROOT = Path(slipstream.__file__).resolve().parent.parent
EXAMPLE_DAGS = Path(slipstream.__file__).resolve().parent / "example_dags"

# How long a worker process that ends waits for its fork server to exit (it is not killed after).
_CLOSE_WAIT = 2.0


def make_celery_app(settings: Settings) -> Celery:
    app = Celery("slipstream", broker=settings.celery_broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=DEFAULT_QUEUE,
        task_create_missing_queues=True,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        # A message is acknowledged when its try is over; a worker that dies gives it back.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        # The scheduler must not hang on a broker that is down: fail fast, the try goes back to None.
        broker_connection_timeout=5,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
    )
    app.task(name=TASK_NAME, bind=True, ignore_result=True)(_run_task_instance_task)
    return app


def _run_task_instance_task(self, request: dict[str, Any]) -> str:
    return run_task_instance(Settings.from_env(), request)


# -- on the worker -----------------------------------------------------------------------------------
def resolve_fileloc(settings: Settings, request: dict[str, Any]) -> str:
    """The DAG file on this host: the same path relative to this host's DAGs folder (or to the example
    DAGs of this installation) as on the scheduler's host; the scheduler's absolute path otherwise."""
    relative = request.get("dags_relpath")
    if relative and settings.dags_folder is not None:
        candidate = Path(settings.dags_folder) / relative
        if candidate.is_file():
            return str(candidate)
    relative = request.get("examples_relpath")
    if relative:
        candidate = EXAMPLE_DAGS / relative
        if candidate.is_file():
            return str(candidate)
    return request.get("fileloc") or ""


def _still_queued(settings: Settings, ti_id: int, try_number: int) -> tuple[bool, str]:
    with session_scope(settings.database_url, write=False) as session:
        row = session.execute(
            sql_select(TaskInstance.state, TaskInstance.try_number).where(TaskInstance.id == ti_id)
        ).first()
    if row is None:
        return False, "the task instance is gone"
    if row.state != TI.QUEUED.value or row.try_number != try_number:
        return False, f"the task instance is {row.state} (try {row.try_number})"
    return True, ""


class WarmForkServer:
    """One fork server kept for this worker process: requests on its stdin, events read from its stdout.

    Safe to share between threads (the `threads` pool): sends are serialised, one thread at a time
    reads, and "exited" events for tries other than the one a thread awaits are kept for their own
    waiters (other events are not needed: the database has the rest).
    """

    def __init__(self, settings: Settings, command: list[str] | None = None):
        self.settings_payload = settings_to_dict(settings)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_SLIPSTREAM_ROOT), env.get("PYTHONPATH")) if p)
        # In this process's group, on purpose: stopping the worker's group stops its fork server.
        self.process = subprocess.Popen(
            command or [sys.executable, "-m", "slipstream.scheduler.executors.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.pid = self.process.pid
        self.owner = os.getpid()
        self._send_lock = threading.Lock()
        self._condition = threading.Condition()
        self._reading = False
        self._buffer = b""
        self._exited: dict[tuple[int, int], dict[str, Any]] = {}
        self._dead = False
        if not self.send({"settings": self.settings_payload}):
            self._dead = True

    @property
    def alive(self) -> bool:
        return not self._dead and self.process.poll() is None

    def send(self, message: dict[str, Any]) -> bool:
        assert self.process.stdin is not None
        with self._send_lock:
            try:
                self.process.stdin.write(orjson.dumps(message) + b"\n")
                self.process.stdin.flush()
                return True
            except (BrokenPipeError, OSError, ValueError):
                self._dead = True
                return False

    def wait_exited(self, ti_id: int, try_number: int) -> dict[str, Any] | None:
        """The "exited" event of this try, or None if the fork server went away before sending it.

        One thread at a time reads; the others wait for it to hand over what it read."""
        key = (ti_id, try_number)
        with self._condition:
            while True:
                event = self._exited.pop(key, None)
                if event is not None:
                    return event
                if self._dead:
                    return None
                if self._reading:
                    self._condition.wait(1.0)
                    continue
                self._reading = True
                self._condition.release()
                try:
                    events = self._read_some(timeout=1.0)
                finally:
                    self._condition.acquire()
                    self._reading = False
                for event in events:
                    self._exited[(event.get("ti_id"), event.get("try_number"))] = event
                self._condition.notify_all()

    def _read_some(self, timeout: float) -> list[dict[str, Any]]:
        """The "exited" events among what is there (waiting up to `timeout`); only the reading thread calls it."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
        except (OSError, ValueError):
            self._dead = True
            return []
        if not ready:
            if self.process.poll() is not None:
                self._dead = True
            return []
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:  # EOF: the fork server is gone (every event it wrote has been read)
            self._dead = True
            return []
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        events = []
        for line in lines:
            if line.strip():
                event = orjson.loads(line)
                if event.get("event") == "exited":
                    events.append(event)
        return events

    def close(self, wait: float = _CLOSE_WAIT) -> None:
        """No more requests: the fork server sees its running tries through, then exits."""
        self._dead = True
        if os.getpid() != self.owner:  # a copy inherited through fork: the pipes are the parent's
            return
        close_pipes(self.process)
        try:
            self.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            logger.info("The fork server (pid %d) goes on until its running tries end", self.pid)


_fork_server: WarmForkServer | None = None
_fork_server_lock = threading.Lock()


def fork_server(settings: Settings) -> WarmForkServer:
    """This process's fork server: started on first use, replaced when it died or the settings changed."""
    global _fork_server
    with _fork_server_lock:
        current = _fork_server
        if current is not None and current.owner != os.getpid():
            current = _fork_server = None  # inherited from the process we were forked from
        if current is not None and current.alive and current.settings_payload == settings_to_dict(settings):
            return current
        if current is not None:
            if current.alive:
                logger.info("Settings changed: replacing the fork server (pid %d)", current.pid)
            else:
                logger.error(
                    "The fork server (pid %d) exited (code %s); starting a new one", current.pid, current.process.poll()
                )
            current.close(wait=0)
        _fork_server = WarmForkServer(settings)
        logger.info("Started a fork server (pid %d) for this worker process (pid %d)", _fork_server.pid, os.getpid())
        return _fork_server


def close_fork_server(**_: Any) -> None:
    """When the worker process ends (worker_process_shutdown, atexit)."""
    global _fork_server
    with _fork_server_lock:
        current, _fork_server = _fork_server, None
    if current is not None:
        current.close()


signals.worker_process_shutdown.connect(close_fork_server, weak=False)
atexit.register(close_fork_server)


def run_task_instance(settings: Settings, request: dict[str, Any]) -> str:
    """Run one try here and wait for its outcome to be recorded; returns the state written (or why not).

    A try the fork server could not take (it was found dead, or died before claiming the try) is run
    once more on a new fork server, if it is still queued for this try number.
    """
    ti_id, try_number = request["ti_id"], request["try_number"]
    label = f"{request.get('dag_id')}.{request.get('task_id')} {request.get('run_id')} try {try_number}"
    queued, why = _still_queued(settings, ti_id, try_number)
    if not queued:
        logger.warning("Not running %s: %s, not queued for this try", label, why)
        return "not queued"
    request = {**request, "op": "run", "fileloc": resolve_fileloc(settings, request)}
    for attempt in (1, 2):
        server = fork_server(settings)
        logger.info("Running %s (fork server pid %d)", label, server.pid)
        event = server.wait_exited(ti_id, try_number) if server.send(request) else None
        if event is not None:
            outcome = event.get("state") or f"not recorded (exit code {event.get('returncode')})"
            logger.info("Finished %s: %s", label, outcome)
            return outcome
        logger.error("The fork server (pid %d) went away while running %s", server.pid, label)
        queued, why = _still_queued(settings, ti_id, try_number)
        if not queued:
            # Claimed: its task process records its own heartbeat and outcome; if it is gone too,
            # the scheduler's zombie detection applies handle_failure.
            logger.warning("Leaving %s to its task process (%s)", label, why)
            return "lost"
        if attempt == 1:
            logger.warning("%s was not claimed yet: running it on a new fork server", label)
    logger.error("Could not run %s: the fork server keeps going away", label)
    return "lost"


def worker_argv(*, queues: list[str], concurrency: int, pool: str, loglevel: str, hostname: str | None) -> list[str]:
    return [
        "worker",
        f"--queues={','.join(queues)}",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--loglevel={loglevel}",
        f"--hostname={hostname or f'slipstream-{os.getpid()}@%h'}",
        "--without-mingle",
        "--without-gossip",
    ]

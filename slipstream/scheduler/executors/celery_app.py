"""The Celery side of the Celery executor: the app (configured from Settings) and the one task it runs.

`run_task_instance(request)` runs one try on the worker's host exactly as the LocalExecutor does:
a fork server (executors/zygote.py) is started for it, forks the task process, claims the try
(queued -> running), heartbeats it, records its outcome and writes its log. The database is the
only channel back to the scheduler; no result backend is used.

Messages are acknowledged late and rejected when the worker process is lost, so a message whose
worker died is delivered again (RabbitMQ at once, Redis after its visibility timeout). A delivery
for a try that is no longer `queued` with that try number does nothing: the task is checked here
first, and the fork server's claim checks again in the same transaction as the state change.
"""

from __future__ import annotations

import logging
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from celery import Celery
from sqlalchemy import select as sql_select

import slipstream
from slipstream.config import Settings
from slipstream.db import session_scope
from slipstream.models import TaskInstance
from slipstream.scheduler.executors.zygote import settings_to_dict
from slipstream.states import TaskInstanceState as TI

logger = logging.getLogger(__name__)

TASK_NAME = "slipstream.run_task_instance"
DEFAULT_QUEUE = "default"

_SLIPSTREAM_ROOT = Path(slipstream.__file__).resolve().parent.parent
EXAMPLE_DAGS = Path(slipstream.__file__).resolve().parent / "example_dags"


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


def run_task_instance(settings: Settings, request: dict[str, Any]) -> str:
    """Run one try here and wait for its outcome to be recorded; returns the state written (or why not).

    The fork server is started in this process's group, so stopping the worker's group stops it; the
    task process has its own group and, like under the LocalExecutor, outlives its fork server and
    records its own heartbeat and outcome.
    """
    ti_id, try_number = request["ti_id"], request["try_number"]
    label = f"{request.get('dag_id')}.{request.get('task_id')} {request.get('run_id')} try {try_number}"
    queued, why = _still_queued(settings, ti_id, try_number)
    if not queued:
        logger.warning("Not running %s: %s, not queued for this try", label, why)
        return "not queued"
    request = {**request, "op": "run", "fileloc": resolve_fileloc(settings, request)}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_SLIPSTREAM_ROOT), env.get("PYTHONPATH")) if p)
    process = subprocess.Popen(
        [sys.executable, "-m", "slipstream.scheduler.executors.zygote"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert process.stdin is not None and process.stdout is not None
    outcome = "lost"
    try:
        process.stdin.write(orjson.dumps({"settings": settings_to_dict(settings)}) + b"\n")
        process.stdin.write(orjson.dumps(request) + b"\n")
        process.stdin.flush()
        logger.info("Running %s (fork server pid %d)", label, process.pid)
        for event in _events(process):
            if event.get("event") == "exited" and event.get("ti_id") == ti_id:
                outcome = event.get("state") or f"not recorded (exit code {event.get('returncode')})"
                break
    except (BrokenPipeError, OSError) as exc:
        logger.error("The fork server for %s failed: %s", label, exc)
    finally:
        try:
            process.stdin.close()  # no more requests: the fork server exits once its try is over
        except OSError:
            pass
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
    logger.info("Finished %s: %s", label, outcome)
    return outcome


def _events(process: subprocess.Popen[bytes]):
    """The fork server's JSON-line events until it exits."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    buffer = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            if process.poll() is not None:
                return
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield orjson.loads(line)


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

"""LocalExecutor: up to `parallelism` task tries at once on this machine, each in its own process.

The processes are forked by a warm fork server (executors/zygote.py), started in its own session so
a Ctrl-C in the terminal reaches the scheduler, which then shuts the tasks down in order.
"""

from __future__ import annotations

import logging
import os
import select
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import orjson

import slipstream
from slipstream.config import Settings
from slipstream.scheduler.executors.base import BaseExecutor, TaskEvent
from slipstream.scheduler.executors.zygote import close_pipes, settings_to_dict
from slipstream.scheduler.queueing import QueuedTask

logger = logging.getLogger(__name__)

_SLIPSTREAM_ROOT = str(Path(slipstream.__file__).resolve().parent.parent)


def run_request(task: QueuedTask, job_id: int | None) -> dict:
    """The fork server's "run" request for one try (the Celery executor sends the same to its workers)."""
    return {
        "op": "run",
        "ti_id": task.ti_id,
        "try_number": task.try_number,
        "dag_id": task.dag_id,
        "task_id": task.task_id,
        "run_id": task.run_id,
        "map_index": task.map_index,
        "fileloc": task.fileloc,
        "job_id": job_id,
        "retry": asdict(task.retry),
        "lineage": {"inlets": list(task.inlets), "outlets": list(task.outlets)},
        "owner": task.owner,
    }


class LocalExecutor(BaseExecutor):
    def __init__(self, settings: Settings, job_id: int | None = None):
        super().__init__(settings.parallelism)
        self.settings = settings
        self.job_id = job_id
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._events: list[TaskEvent] = []
        self._pending: list[QueuedTask] = []
        self._stopped = False

    # -- fork server ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._spawn()

    def _spawn(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_SLIPSTREAM_ROOT, env.get("PYTHONPATH")) if p)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "slipstream.scheduler.executors.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        self._buffer = b""
        os.set_blocking(self._process.stdout.fileno(), False)
        self._send({"settings": settings_to_dict(self.settings)})
        logger.info(
            "LocalExecutor started its fork server (pid %d), parallelism %d", self._process.pid, self.parallelism
        )

    def _send(self, message: dict) -> bool:
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.write(orjson.dumps(message) + b"\n")
            self._process.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def _fork_server_died(self) -> None:
        """Whatever it had not started never will: report those tries lost; running ones are on their own."""
        code = self._process.poll() if self._process else None
        logger.error("The fork server exited (code %s); starting a new one", code)
        for key in list(self.running):
            self._events.append(TaskEvent(key[0], key[1], "lost"))
            del self.running[key]
        self._spawn()

    # -- executor interface ------------------------------------------------------------------------
    def queue_task(self, task: QueuedTask) -> None:
        self._pending.append(task)

    def heartbeat(self) -> None:
        if self._stopped or self._process is None:
            return
        if self._process.poll() is not None:
            self._read()
            self._fork_server_died()
        if not self._pending:
            return
        # Highest priority first; stable, so equal weights keep their queueing order.
        pending, self._pending = sorted(self._pending, key=lambda t: -t.priority_weight), []
        for task in pending:
            request = run_request(task, self.job_id)
            self.running[task.key] = task
            if not self._send(request):
                self._fork_server_died()
                break

    def _read(self) -> None:
        if self._process is None or self._process.stdout is None:
            return
        while True:
            try:
                chunk = os.read(self._process.stdout.fileno(), 65536)
            except BlockingIOError:
                break
            except OSError:
                break
            if not chunk:
                break
            self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            event = orjson.loads(line)
            kind = event.get("event")
            if kind == "started":
                self._events.append(TaskEvent(event["ti_id"], event["try_number"], "started", pid=event["pid"]))
            elif kind == "exited":
                key = (event["ti_id"], event["try_number"])
                self.running.pop(key, None)
                self._events.append(
                    TaskEvent(key[0], key[1], "exited", pid=event["pid"], returncode=event["returncode"])
                )
            elif kind == "stopped":
                self._stopped = True

    def get_events(self) -> list[TaskEvent]:
        self._read()
        events, self._events = self._events, []
        return events

    def has_events(self) -> bool:
        return bool(self._events)

    def wait(self, timeout: float) -> None:
        if self._events or self._process is None or self._process.stdout is None:
            return
        try:
            select.select([self._process.stdout.fileno()], [], [], max(0.0, timeout))
        except (OSError, ValueError):
            time.sleep(max(0.0, timeout))

    def hurry(self) -> None:
        """During end(): stop waiting for running tries, terminate them now."""
        if self._process is not None:
            self._send({"op": "shutdown", "grace": 0})

    def kill(self, ti_id: int, try_number: int) -> None:
        self._send({"op": "kill", "ti_id": ti_id, "try_number": try_number})

    def end(self, grace: float) -> list[TaskEvent]:
        if self._process is None:
            return []
        self._pending = []
        if self.running:
            logger.info("Waiting up to %g s for %d running task(s) to finish", grace, len(self.running))
        self._send({"op": "shutdown", "grace": grace})
        deadline = time.monotonic() + grace + 15
        while not self._stopped and self._process.poll() is None and time.monotonic() < deadline:
            self.wait(0.2)
            self._read()
        self._read()
        self._close()
        return self.get_events()

    def terminate(self) -> None:
        if self._process is None:
            return
        self._send({"op": "shutdown", "grace": 0})
        try:
            self._process.wait(timeout=_TERMINATE_WAIT)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self._process.pid, 9)
            except ProcessLookupError:
                pass
        self._close()

    def _close(self) -> None:
        if self._process is None:
            return
        close_pipes(self._process)
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


_TERMINATE_WAIT = 12.0

"""A DAG's on_success_callback / on_failure_callback, run when the scheduler finishes one of its runs.

The scheduler never imports DAG files, so each callback runs in a child interpreter
(dag_callback_child.py) that imports the file, builds the context of the run's last task instance
plus `reason`, and calls the callbacks. The child runs off the scheduler's loop, in a thread; what
it prints goes to `$SLIPSTREAM_HOME/logs/dag_callbacks/<dag_id>/<run_id>.log`. A callback that
raises, hangs (past the DAG file processor timeout) or crashes its interpreter is logged there and
changes nothing. Callbacks live in memory until run: a scheduler killed in between loses them.
"""

from __future__ import annotations

import logging
import queue
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from slipstream.config import Settings
from slipstream.scheduler.executors.zygote import settings_to_dict

logger = logging.getLogger(__name__)
CHILD_SCRIPT = Path(__file__).with_name("dag_callback_child.py")
_SLIPSTREAM_ROOT = str(Path(__file__).resolve().parent.parent.parent)


@dataclass(frozen=True)
class DagCallback:
    dag_id: str
    run_id: str
    fileloc: str
    success: bool
    reason: str


def log_path(settings: Settings, callback: DagCallback) -> Path:
    return settings.logs_folder / "dag_callbacks" / callback.dag_id / f"{callback.run_id}.log"


class DagCallbackRunner:
    """Runs queued DAG callbacks one at a time in a daemon thread."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._queue: queue.Queue[DagCallback | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()

    def submit(self, callback: DagCallback) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="slipstream-dag-callbacks", daemon=True)
            self._thread.start()
        self._idle.clear()
        self._queue.put(callback)

    def drain(self, timeout: float) -> bool:
        """Wait until every submitted callback has run (True) or `timeout` passed (False)."""
        return self._idle.wait(timeout)

    def _work(self) -> None:
        while True:
            callback = self._queue.get()
            try:
                self.run(callback)
            except Exception:  # never let one callback stop the others
                logger.exception("DAG callback for %s/%s failed to start", callback.dag_id, callback.run_id)
            finally:
                if self._queue.empty():
                    self._idle.set()

    def run(self, callback: DagCallback) -> int | None:
        path = log_path(self.settings, callback)
        path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-P",
            str(CHILD_SCRIPT),
            orjson.dumps({"callback": asdict(callback), "settings": settings_to_dict(self.settings)}).decode(),
            f"--sys-path={self.settings.dags_folder}",
            f"--fallback-path={_SLIPSTREAM_ROOT}",
        ]
        with open(path, "ab") as log:
            try:
                done = subprocess.run(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=self.settings.dag_file_processor_timeout,
                    start_new_session=True,
                )
            except subprocess.TimeoutExpired:
                log.write(b"The DAG callback did not finish in time and was killed.\n")
                logger.warning("DAG callback for %s/%s timed out", callback.dag_id, callback.run_id)
                return None
        if done.returncode != 0:
            logger.warning("DAG callback for %s/%s exited with %s", callback.dag_id, callback.run_id, done.returncode)
        return done.returncode

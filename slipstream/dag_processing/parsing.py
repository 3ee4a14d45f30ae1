"""Parse one DAG file in a child process with a timeout: `process_file(path, timeout) -> FileResult`.

The child is a fresh interpreter (`sys.executable -P child.py <file>`), not a fork, so it is safe to
start from a uvicorn/asyncio process or any thread, and it runs in its own process group so a
timeout or a stop request kills it together with anything it spawned.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

import slipstream

logger = logging.getLogger(__name__)

CHILD_SCRIPT = Path(__file__).with_name("child.py")
# Where `import slipstream` works from, in case the package is not installed in the interpreter.
_SLIPSTREAM_ROOT = str(Path(slipstream.__file__).resolve().parent.parent)
_POLL_SECONDS = 0.1
_STDERR_TAIL_CHARS = 4000


@dataclass
class FileResult:
    """What one DAG file gave: its serialized DAGs, its source, and an error a person can read."""

    path: str
    dags: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    error: str | None = None
    duration: float = 0.0
    # Timed out or cancelled: the outcome says nothing about the file, so it is not cached.
    transient: bool = False

    @property
    def dag_ids(self) -> list[str]:
        return [dag["dag_id"] for dag in self.dags]


class ParsingCancelled(Exception):
    """The stop event was set while a child was running; the child was killed."""


def timeout_message(timeout: float) -> str:
    return f"Timeout: DAG file took longer than {timeout:g} s to import"


def process_file(
    path: str | os.PathLike[str],
    timeout: float,
    *,
    sys_path: Sequence[str | os.PathLike[str]] = (),
    stop_event: threading.Event | None = None,
) -> FileResult:
    """Import one DAG file in a child process; never raises for anything the file does.

    `sys_path` entries go first on the child's sys.path (the DAGs folder, so files can import helpers
    next to them). If `stop_event` is set while the child runs, the child is killed and
    ParsingCancelled is raised.
    """
    filename = os.path.abspath(os.fspath(path))
    if stop_event is not None and stop_event.is_set():
        raise ParsingCancelled(filename)
    command = [sys.executable, "-P", str(CHILD_SCRIPT), filename, f"--fallback-path={_SLIPSTREAM_ROOT}"]
    command += [f"--sys-path={os.fspath(entry)}" for entry in sys_path]
    started = time.monotonic()
    try:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return FileResult(filename, error=f"Could not start the DAG file processor: {exc}", transient=True)

    deadline = started + timeout
    while True:
        try:
            stdout, stderr = child.communicate(timeout=max(0.0, min(_POLL_SECONDS, deadline - time.monotonic())))
            break
        except subprocess.TimeoutExpired:
            if stop_event is not None and stop_event.is_set():
                _kill(child)
                raise ParsingCancelled(filename) from None
            if time.monotonic() >= deadline:
                _kill(child)
                logger.warning("Killed the processor of %s after %.1f s", filename, timeout)
                return FileResult(
                    filename,
                    error=timeout_message(timeout),
                    duration=time.monotonic() - started,
                    transient=True,
                )
    duration = time.monotonic() - started
    err_text = stderr.decode("utf-8", "backslashreplace")
    if err_text.strip():
        logger.debug("Output of %s while importing:\n%s", filename, err_text)
    try:
        payload = orjson.loads(stdout) if child.returncode == 0 else None
    except orjson.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict):
        tail = err_text[-_STDERR_TAIL_CHARS:].rstrip()
        message = f"The DAG file processor exited with code {child.returncode} without a result"
        return FileResult(filename, error=f"{message}\n{tail}" if tail else message, duration=duration)
    return FileResult(
        filename,
        dags=list(payload.get("dags") or []),
        source=payload.get("source") or "",
        error=payload.get("error"),
        duration=duration,
    )


def _kill(child: subprocess.Popen[bytes]) -> None:
    """Kill the child's whole process group and reap it without waiting on pipes a grandchild holds."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        child.kill()
    try:
        child.communicate(timeout=2)
    except subprocess.TimeoutExpired:
        for pipe in (child.stdout, child.stderr):
            if pipe is not None:
                pipe.close()
        child.wait()

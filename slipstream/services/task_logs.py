"""Reading a try's log as Airflow's FileTaskHandler serves it (the stable API's getLog).

The text is the try's file (slipstream.scheduler.logs writes it) under a header naming where it was
read from. A continuation token carries how far a reader got (`log_pos`, in characters, as Airflow's)
and whether the log had ended; it is signed, so a reader cannot forge a position. A running try's file
is read as far as it is written: a character cut in half at the end waits for the next read.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipstream.scheduler.logs import log_path
from slipstream.states import TaskInstanceState as TI

_LIVE_STATES = (TI.RUNNING.value, TI.DEFERRED.value)
_SALT = b"slipstream.task-log-token"


class BadToken(Exception):
    """A continuation token this server did not sign (or that was altered)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(key: bytes, metadata: dict[str, Any]) -> str:
    """`<payload>.<signature>`, both URL-safe base64, like the itsdangerous tokens Airflow hands out."""
    payload = _b64(json.dumps(metadata, separators=(",", ":"), sort_keys=True).encode())
    signature = hmac.new(hashlib.sha256(_SALT + key).digest(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(signature)}"


def read_token(key: bytes, token: str) -> dict[str, Any]:
    payload, dot, signature = token.rpartition(".")
    if not dot:
        raise BadToken(token)
    expected = hmac.new(hashlib.sha256(_SALT + key).digest(), payload.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(signature)):
            raise BadToken(token)
        metadata = json.loads(_unb64(payload))
    except (ValueError, TypeError) as exc:
        raise BadToken(token) from exc
    if not isinstance(metadata, dict):
        raise BadToken(token)
    return metadata


@dataclass(frozen=True)
class TryLog:
    host: str
    text: str
    metadata: dict[str, Any]


def _read_text(path: Path, *, final: bool) -> str | None:
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    # While the try writes, its last character may be half written: leave it for the next read.
    return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=final)


def read_try_log(
    logs_folder: Path,
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int,
    try_number: int,
    hostname: str | None,
    current_try: int,
    state: str | None,
    metadata: dict[str, Any],
) -> TryLog:
    """Airflow's FileTaskHandler.read for one try: (host, text) and the metadata for the next token.

    `hostname`, `current_try` and `state` are the task instance's (its current row, as Airflow reads)."""
    metadata = dict(metadata)
    if try_number < 1:
        metadata["end_of_log"] = True
        return TryLog("default_host", f"Error fetching the logs. Try number {try_number} is invalid.", metadata)
    live = current_try == try_number and state in _LIVE_STATES
    path = log_path(logs_folder, dag_id, run_id, task_id, try_number, map_index)
    content = _read_text(path, final=not live)
    if content is None:
        sources = [f"Could not read the log file {path}: this try has not written one (yet)"]
        logs = ""
    else:
        sources = ["Found local files:", f"  * {path}"]
        logs = "\n".join(content.splitlines())
    log_pos = len(logs)
    if "log_pos" in metadata:
        text = logs[int(metadata["log_pos"]) :]
    else:
        header = " INFO - ::group::Log message source details\n"
        header += "".join(f"*** {line}\n" for line in sources)
        header += " INFO - ::endgroup::\n"
        text = header + logs
    metadata.update(end_of_log=not live, log_pos=log_pos)
    return TryLog(hostname or "", text, metadata)

"""A try's log (/api/v1 getLog): JSON with a continuation token, or the text itself."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from connexion.context import request as current_request
from sqlalchemy import select
from starlette.responses import Response

from handlers._dispatch import database_read
from handlers._responses import json_response
from handlers._unit_of_work import reading
from handlers.v1.task_instances import INT_MAX, _route_index
from slipstream.api.http import current_settings
from slipstream.api.v1_problems import V1Problem
from slipstream.services.task_logs import BadToken, read_token, read_try_log, sign_token
from slipstream.storage.encryption import load_or_create_key
from slipstream.storage.models import TaskInstance, TaskInstanceHistory

_TEXT, _JSON = "text/plain", "application/json"


@functools.lru_cache(maxsize=8)
def _signing_key(fernet_key: str, home: str) -> bytes:
    """Derived from the Fernet key, which every API worker shares (Airflow signs with its secret_key)."""
    from pathlib import Path

    key = fernet_key.split(",")[0].strip() if fernet_key else load_or_create_key(Path(home))
    return hashlib.sha256(b"slipstream log tokens:" + key.encode()).digest()


def _accepted(header: str | None) -> str:
    """Airflow's `accept_mimetypes.best_match(["text/plain", "application/json"])`, JSON when nothing
    matches (or no Accept header): the highest quality wins, then the more specific, then text/plain."""
    if not header or not header.strip():
        return _JSON
    offers: list[tuple[str, float]] = []
    for part in header.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media:
            offers.append((media.lower(), quality))

    def specificity(media: str) -> int:
        return 0 if media == "*/*" else 1 if media.endswith("/*") else 2

    best, best_quality, best_specificity = None, -1.0, -1
    for server in (_TEXT, _JSON):
        for client, quality in offers:
            if quality <= 0 or quality < best_quality:
                continue
            matches = client in ("*/*", server) or (client.endswith("/*") and server.startswith(client[:-1]))
            if matches and (quality > best_quality or specificity(client) > best_specificity):
                best, best_quality, best_specificity = server, quality, specificity(client)
    return best or _JSON


@database_read
def get_log(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    task_try_number: int,
    full_content: bool = False,
    map_index: int = -1,
    token: str | None = None,
):
    _route_index(task_try_number)
    if not -1 <= map_index <= INT_MAX:
        raise V1Problem(404, title="TaskInstance not found")
    settings = current_settings()
    key = _signing_key(settings.fernet_key, str(settings.home))
    metadata: dict[str, Any] = {}
    if token:
        try:
            metadata = read_token(key, token)
        except BadToken:
            raise V1Problem(400, title="Bad Signature. Please use only the tokens provided by the API.") from None
    if metadata.get("download_logs"):
        full_content = True
    metadata["download_logs"] = bool(full_content)

    with reading() as session:
        ti = session.scalar(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == dag_run_id,
                TaskInstance.task_id == task_id,
                TaskInstance.map_index == map_index,
            )
        )
        row: TaskInstance | TaskInstanceHistory | None = ti
        if row is None:
            row = session.scalar(
                select(TaskInstanceHistory).where(
                    TaskInstanceHistory.dag_id == dag_id,
                    TaskInstanceHistory.run_id == dag_run_id,
                    TaskInstanceHistory.task_id == task_id,
                    TaskInstanceHistory.map_index == map_index,
                    TaskInstanceHistory.try_number == task_try_number,
                )
            )
        if row is None:
            raise V1Problem(404, title="TaskInstance not found")
        hostname, current_try, state = row.hostname, row.try_number, row.state

    log = read_try_log(
        settings.logs_folder,
        dag_id=dag_id,
        run_id=dag_run_id,
        task_id=task_id,
        map_index=map_index,
        try_number=task_try_number,
        hostname=hostname,
        current_try=current_try,
        state=state,
        metadata=metadata,
    )
    if _accepted(current_request.headers.get("accept")) == _TEXT:
        return Response(f"{log.host}\n{log.text}\n", headers={"content-type": _TEXT})
    return json_response({"content": repr([(log.host, log.text)]), "continuation_token": sign_token(key, log.metadata)})

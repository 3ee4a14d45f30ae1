"""File tokens: a DAG file's path signed with the secret key, as Airflow's stable API hands them out.

A client gets the token from a DAG (`file_token`) and passes it back to /dagSources and /parseDagFile,
so it can name only files the server itself listed. The format is itsdangerous' URL-safe serializer,
Airflow's own, so tokens look the same; they are valid only where they were signed.
"""

from __future__ import annotations

import functools
import os
import secrets
import threading
from pathlib import Path

from itsdangerous import BadData, URLSafeSerializer

from slipstream.config import Settings

KEY_FILE_NAME = "secret.key"
_lock = threading.Lock()
_keys: dict[tuple[str, str], str] = {}


def _load_or_create_key(home: Path) -> str:
    """<home>/secret.key, created (mode 0600, O_EXCL: concurrent starters agree on one) if absent."""
    path = Path(home) / KEY_FILE_NAME
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, key.encode() + b"\n")
    finally:
        os.close(fd)
    return key


def secret_key(settings: Settings) -> str:
    cache_key = (settings.secret_key, str(settings.home))
    with _lock:
        key = _keys.get(cache_key)
        if key is None:
            key = _keys[cache_key] = settings.secret_key or _load_or_create_key(settings.home)
    return key


@functools.lru_cache(maxsize=4096)
def _token(key: str, fileloc: str) -> str:
    return URLSafeSerializer(key).dumps(fileloc)


def file_token(settings: Settings, fileloc: str) -> str:
    return _token(secret_key(settings), fileloc)


def fileloc_of(settings: Settings, token: str) -> str | None:
    """The path a token names, or None when it was not signed here (or is not a token at all)."""
    try:
        path = URLSafeSerializer(secret_key(settings)).loads(token)
    except (BadData, ValueError, UnicodeError):
        return None
    return path if isinstance(path, str) else None

"""Masking secrets in what a task process writes: Airflow's secrets masker, for Slipstream's task logs.

Connection passwords a task fetches are always masked; variable values (and connection extras) only
when their key names something sensitive (task-model-semantics §8). Each secret is masked as given
and URL-quoted, since that is how it appears in a connection URI. Registered secrets live for the
process, which is one try.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any, TextIO
from urllib.parse import quote

MASK = "***"
SENSITIVE_WORDS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "authorization",
        "passphrase",
        "passwd",
        "password",
        "private_key",
        "secret",
        "token",
        "keyfile_dict",
        "service_account",
    }
)

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_extra_words: frozenset[str] = frozenset()


def add_sensitive_words(words: str) -> None:
    """Words (comma-separated) that make a key sensitive besides Airflow's (its sensitive_var_conn_names)."""
    global _extra_words
    _extra_words = _extra_words | {w.strip().lower() for w in words.split(",") if w.strip()}


def is_sensitive_key(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SENSITIVE_WORDS) or any(word in lowered for word in _extra_words)


def mask_secret(value: Any, name: str | None = None) -> None:
    """Mask `value` from now on: always when no name is given, else only if the name is sensitive.

    A dict is masked value by value under its own keys; a list item by item under `name`.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            mask_secret(item, str(key))
        return
    if isinstance(value, (list, tuple, set)):
        for item in value:
            mask_secret(item, name)
        return
    if value is None or isinstance(value, bool):
        return
    if name is not None and not is_sensitive_key(name):
        return
    text = str(value)
    if not text.strip():
        return
    _add({text, quote(text, safe="")})


def _add(values: Iterable[str]) -> None:
    global _pattern
    with _lock:
        new = {v for v in values if v and v not in _secrets}
        if not new:
            return
        _secrets.update(new)
        # Longest first, so a secret containing another is masked whole.
        _pattern = re.compile("|".join(re.escape(s) for s in sorted(_secrets, key=len, reverse=True)))


def redact(value: Any, name: str | None = None) -> Any:
    """`value` with every registered secret replaced by ***; dicts and lists are redacted inside,
    and whatever sits under a sensitive key (`{"password": ...}`) is *** whole."""
    if name is not None and is_sensitive_key(name) and isinstance(value, (str, int, float, dict, list, tuple)):
        return _redact_all(value)
    pattern = _pattern
    if isinstance(value, str):
        return value if pattern is None else pattern.sub(MASK, value)
    if isinstance(value, dict):
        return {key: redact(item, str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item, name) for item in value]
    if isinstance(value, tuple):
        return tuple(redact(item, name) for item in value)
    return value


def _redact_all(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _redact_all(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_all(item) for item in value)
    return MASK if isinstance(value, (str, int, float)) and not isinstance(value, bool) else value


def redact_by_key(value: Any, name: str | None = None, *, extra_words: Iterable[str] = ()) -> Any:
    """`value` with whatever sits under a sensitive key replaced by *** (recursively), looking only at
    key names: what the API shows of a connection's extra or logs of a request, in a process that has
    no secrets registered. `extra_words` adds sensitive words (SLIPSTREAM_SENSITIVE_VAR_CONN_NAMES)."""
    words = tuple(w.strip().lower() for w in extra_words if w and w.strip())

    def sensitive(key: str) -> bool:
        lowered = key.strip().lower()
        return any(word in lowered for word in SENSITIVE_WORDS) or any(word in lowered for word in words)

    def walk(item: Any, key: str | None) -> Any:
        if key is not None and sensitive(key) and isinstance(item, (str, int, float, dict, list, tuple)):
            return _redact_all(item)
        if isinstance(item, dict):
            return {k: walk(v, str(k)) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return type(item)(walk(v, key) for v in item)
        return item

    return walk(value, name)


def forget_all() -> None:
    """Drop every registered secret and added word (tests)."""
    global _pattern, _extra_words
    with _lock:
        _secrets.clear()
        _pattern = None
        _extra_words = frozenset()


class MaskingStream:
    """A text stream that redacts whole lines before passing them on.

    Lines are held until their newline (or a flush), so a secret written in pieces is still masked.
    """

    def __init__(self, stream: TextIO):
        self._stream = stream
        self._pending = ""
        self._write_lock = threading.Lock()  # the task and the runner's watch thread both log

    def write(self, text: str) -> int:
        with self._write_lock:
            if _pattern is None and not self._pending:  # nothing to mask yet: pass through
                self._stream.write(text)
                return len(text)
            self._pending += text
            if "\n" in self._pending:
                complete, _, self._pending = self._pending.rpartition("\n")
                self._stream.write(redact(complete + "\n"))
            return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        with self._write_lock:
            if self._pending:
                pending, self._pending = self._pending, ""
                self._stream.write(redact(pending))
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:  # fileno, encoding, isatty, buffer, ...
        return getattr(self._stream, name)

"""What `slipstream variables` and `slipstream connections` share: a unit of work with the cipher,
JSON files in and out (exports hold secrets in clear, so they are created readable by their owner only)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from slipstream.cli.common import fail, load_settings
from slipstream.config import Settings
from slipstream.errors import SlipstreamError
from slipstream.storage.db import session_scope
from slipstream.storage.encryption import FernetKeyError, SecretCipher, cipher_for

_NOT_MIGRATED = "Could not read the metadata database ({error}). Did you run `slipstream db upgrade`?"


def prepare_fernet_key(settings: Settings) -> None:
    """At start: generate <home>/fernet.key if no key is configured, or refuse a configured key that is bad."""
    try:
        cipher_for(settings)
    except FernetKeyError as exc:
        fail(exc.message, code=2)


@contextmanager
def unit_of_work(*, write: bool) -> Iterator[tuple[Session, SecretCipher]]:
    """A session and the cipher, with domain and database errors turned into a clear exit."""
    settings = load_settings()
    try:
        cipher = cipher_for(settings)
        with session_scope(settings.database_url, write=write) as session:
            yield session, cipher
    except SlipstreamError as exc:
        fail(exc.message)
    except OperationalError as exc:
        fail(_NOT_MIGRATED.format(error=exc.orig))


def read_json_file(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        fail(f"Missing {what} file: {path}")
    except (OSError, UnicodeError, json.JSONDecodeError) as exc:
        fail(f"Invalid {what} file {path}: {exc}")


def write_private_file(path: Path, data: Any) -> None:
    """`data` as JSON in `path`, mode 0600 (an existing file is truncated and made 0600 too)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=4, sort_keys=True)
            handle.write("\n")
    except OSError as exc:
        fail(f"Cannot write {path}: {exc}")


def report_import(result: dict[str, list[str]], total: int, noun: str) -> None:
    done = len(result["created"]) + len(result["updated"])
    typer.echo(f"{done} of {total} {noun} successfully updated.")
    if result["skipped"]:
        typer.echo(f"Skipped (already existing): {', '.join(result['skipped'])}")

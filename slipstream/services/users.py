"""API users: names, salted slow hashes (argon2id), and the first admin of `slipstream standalone`.

A plaintext password is never stored or logged: only its hash reaches the database, and the one
password Slipstream makes up for standalone is written to a 0600 file and shown once by the caller.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipstream.config import Settings
from slipstream.errors import BadRequest, Conflict, NotFound
from slipstream.passwords import hash_password
from slipstream.services import audit
from slipstream.storage.db import session_scope
from slipstream.storage.models import User, utcnow

USERNAME_MAX_LENGTH = 64
# Letters, digits and . _ @ + -, starting with a letter or digit: no ':' (Basic auth splits on it),
# no spaces or control characters, nothing a shell or a log line could misread.
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 1024
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD_FILE = "standalone_admin_password.txt"


def check_username(username: str) -> str:
    if not isinstance(username, str) or not username:
        raise BadRequest("A username is required")
    if len(username) > USERNAME_MAX_LENGTH:
        raise BadRequest(f"A username can't be more than {USERNAME_MAX_LENGTH} characters")
    if not USERNAME_PATTERN.match(username):
        raise BadRequest(
            "A username may contain only letters, digits and . _ @ + -, and must start with a letter or digit"
        )
    return username


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < PASSWORD_MIN_LENGTH:
        raise BadRequest(f"A password must be at least {PASSWORD_MIN_LENGTH} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise BadRequest(f"A password can't be more than {PASSWORD_MAX_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise BadRequest("A password can't contain control characters")
    return password


def generate_password() -> str:
    """32 URL-safe characters from the OS's CSPRNG (192 bits)."""
    return secrets.token_urlsafe(24)


def user_to_json(user: User) -> dict[str, Any]:
    """Everything about a user except the hash."""
    return {
        "id": user.id,
        "username": user.username,
        "created_at": user.created_at.isoformat() if user.created_at else None,
        "changed_at": user.changed_at.isoformat() if user.changed_at else None,
    }


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"User '{username}' doesn't exist")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def create_user(session: Session, username: str, password: str, *, actor: dict[str, Any]) -> User:
    """Add a user (audited as `actor`, a dict of username/remote_addr); the caller commits."""
    check_username(username)
    check_password(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"User '{username}' already exists")
    user = User(username=username, password_hash=hash_password(password))
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise Conflict(f"User '{username}' already exists") from None
    audit.record(session, audit.USER_CREATE, target=username, **actor)
    return user


def delete_user(session: Session, username: str, *, actor: dict[str, Any]) -> User:
    user = get_user(session, username)
    session.delete(user)
    session.flush()
    audit.record(session, audit.USER_DELETE, target=username, **actor)
    return user


def reset_password(session: Session, username: str, password: str, *, actor: dict[str, Any]) -> User:
    """A new hash; credentials cached by API workers stop matching at once (the cache keys on the hash)."""
    check_password(password)
    user = get_user(session, username)
    user.password_hash = hash_password(password)
    user.changed_at = utcnow()
    session.flush()
    audit.record(session, audit.USER_RESET_PASSWORD, target=username, **actor)
    return user


def write_secret_file(path: Path, secret: str) -> None:
    """Write `secret` to `path` readable by the owner only, never world-readable even for a moment.

    The file is created 0600 under a temporary name beside the target, then renamed over it, so an
    old file with looser permissions is replaced rather than written into.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)  # the mode asked for, whatever the umask
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            fd = -1
            handle.write(secret + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if fd != -1:
            os.close(fd)
        temporary.unlink(missing_ok=True)
        raise


def admin_password_path(settings: Settings) -> Path:
    return settings.home / ADMIN_PASSWORD_FILE


def ensure_admin_user(settings: Settings) -> str | None:
    """For `slipstream standalone`: when there are no users, create `admin` with a random password.

    The password is written to `<home>/standalone_admin_password.txt` (mode 0600) and returned, so
    the caller prints it once. Returns None when a user already exists (nothing is changed then).
    The user row commits only after the file is written, so a password is never lost.
    """
    with session_scope(settings.database_url) as session:
        if count_users(session):
            return None
        password = generate_password()
        try:
            create_user(
                session,
                ADMIN_USERNAME,
                password,
                actor={"username": None, "remote_addr": "standalone"},
            )
            session.flush()
        except Conflict:
            return None  # another process made it first
        write_secret_file(admin_password_path(settings), password)
    return password

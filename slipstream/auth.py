"""Authentication backends (SLIPSTREAM_AUTH_BACKEND): basic_auth (default), deny_all, default (open).

The spec declares the `basicAuth` scheme on every operation; this module decides how it applies.
"""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import select

from slipstream.config import Settings
from slipstream.db import session_scope
from slipstream.http import current_settings
from slipstream.models import User
from slipstream.passwords import verify_password

BACKENDS = ("basic_auth", "deny_all", "default")


def prepare_spec_security(spec: dict[str, Any], settings: Settings) -> dict[str, Any]:
    if settings.auth_backend not in BACKENDS:
        raise ValueError(
            f"SLIPSTREAM_AUTH_BACKEND={settings.auth_backend!r} is not one of: {', '.join(BACKENDS)}"
        )
    if settings.auth_backend != "default":
        return spec
    open_spec = copy.deepcopy(spec)
    open_spec["security"] = []
    return open_spec


def basic_auth_user(username: str, password: str, required_scopes: Any = None) -> dict[str, str] | None:
    """Connexion's x-basicInfoFunc: the user's identity when the password matches, else None (401)."""
    settings = current_settings()
    with session_scope(settings.database_url, write=False) as session:
        password_hash = session.scalar(select(User.password_hash).where(User.username == username))
    if password_hash is None or not verify_password(password_hash, password):
        return None
    return {"sub": username}

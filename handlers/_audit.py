"""Who is calling, for the audit log: the authenticated user (None when access is open) and the client address."""

from __future__ import annotations

from typing import Any

from connexion.context import context, scope


def actor() -> dict[str, Any]:
    """`username` and `remote_addr` keyword arguments for slipstream.services.audit.record()."""
    client = scope.get("client")
    return {"username": context.get("user"), "remote_addr": client[0] if client else None}

"""The audit log: who changed what, when and from where, written in the same transaction as the change.

Rows are kept when a DAG is deleted (no foreign keys), so the log outlives what it describes.
"""

from __future__ import annotations

import getpass
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from slipstream.models import AuditLog
from slipstream.prepared import Prepared

# The events Slipstream records, by the name stored in audit_log.event.
DAG_RUN_TRIGGER = "dag_run.trigger"
DAG_PAUSE = "dag.pause"
DAG_UNPAUSE = "dag.unpause"
DAG_DELETE = "dag.delete"
POOL_CREATE = "pool.create"
POOL_UPDATE = "pool.update"
POOL_DELETE = "pool.delete"
USER_CREATE = "user.create"
USER_DELETE = "user.delete"
USER_RESET_PASSWORD = "user.reset_password"
# Columns are bounded; a hostile value is cut rather than failing the change it records.
_USERNAME_LENGTH = 256
_REMOTE_ADDR_LENGTH = 100
_ENTRY_COLUMNS = ("event", "username", "remote_addr", "dag_id", "target", "extra")
_INSERT_ENTRY = Prepared(insert(AuditLog.__table__).values({c: bindparam(c) for c in _ENTRY_COLUMNS}))


def record(
    session: Session,
    event: str,
    *,
    username: str | None,
    remote_addr: str | None,
    dag_id: str | None = None,
    target: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Add one entry to the caller's unit of work; it commits (or rolls back) with the change itself.

    A prepared INSERT, run now (after flushing the change), rather than an ORM object flushed at commit:
    a write per request on every audited endpoint, where the ORM's unit of work costs several times more.
    """
    entry = {
        "event": event,
        "username": username[:_USERNAME_LENGTH] if username else username,
        "remote_addr": remote_addr[:_REMOTE_ADDR_LENGTH] if remote_addr else remote_addr,
        "dag_id": dag_id,
        "target": target,
        "extra": extra,
    }
    _INSERT_ENTRY.execute(session, entry).close()


def cli_actor() -> dict[str, Any]:
    """`username`/`remote_addr` for changes made with the `slipstream` command on this machine."""
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):
        os_user = None
    return {"username": None, "remote_addr": f"cli:{os_user}" if os_user else "cli"}


def list_entries(session: Session, limit: int = 50) -> list[AuditLog]:
    """The newest entries first."""
    return list(session.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)))


def entry_to_json(entry: AuditLog) -> dict[str, Any]:
    return {
        "id": entry.id,
        "dttm": entry.dttm.isoformat() if entry.dttm else None,
        "event": entry.event,
        "username": entry.username,
        "remote_addr": entry.remote_addr,
        "dag_id": entry.dag_id,
        "target": entry.target,
        "extra": entry.extra,
    }

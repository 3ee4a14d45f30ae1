"""The audit log: who changed what, when and from where, written in the same transaction as the change.

Rows are kept when a DAG is deleted (no foreign keys), so the log outlives what it describes.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, and_, bindparam, cast, func, insert, or_, select
from sqlalchemy.orm import Session

from slipstream.dates import isoformat
from slipstream.storage.models import ID_LENGTH, AuditLog
from slipstream.storage.prepared import Prepared

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
# Recorded by key or conn_id and field names only: values and passwords never enter the log.
VARIABLE_SET = "variable.set"
VARIABLE_DELETE = "variable.delete"
VARIABLE_IMPORT = "variable.import"
CONNECTION_ADD = "connection.add"
CONNECTION_DELETE = "connection.delete"
CONNECTION_IMPORT = "connection.import"
# Columns are bounded; a hostile value is cut rather than failing the change it records.
_USERNAME_LENGTH = 256
_REMOTE_ADDR_LENGTH = 100
_ENTRY_COLUMNS = (
    "event",
    "username",
    "remote_addr",
    "dag_id",
    "target",
    "extra",
    "task_id",
    "run_id",
    "map_index",
    "try_number",
    "execution_date",
)
_EVENT_LENGTH = 60
_INSERT_ENTRY = Prepared(insert(AuditLog.__table__).values({c: bindparam(c) for c in _ENTRY_COLUMNS}))


def _text(value: Any) -> Any:
    """PostgreSQL refuses NUL in text: a hostile value is logged with U+FFFD in its place."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def _bounded(value: Any) -> Any:
    """An id column's value, cut to the column (a rejected request may name an id no DAG can have)."""
    value = _text(value)
    return value[:ID_LENGTH] if isinstance(value, str) else value


def record(
    session: Session,
    event: str,
    *,
    username: str | None,
    remote_addr: str | None,
    dag_id: str | None = None,
    target: str | None = None,
    extra: dict[str, Any] | str | None = None,
    task_id: str | None = None,
    run_id: str | None = None,
    map_index: int | None = None,
    try_number: int | None = None,
    execution_date: datetime | None = None,
) -> None:
    """Add one entry to the caller's unit of work; it commits (or rolls back) with the change itself.

    A prepared INSERT, run now (after flushing the change), rather than an ORM object flushed at commit:
    a write per request on every audited endpoint, where the ORM's unit of work costs several times more.
    """
    entry = {
        "event": _text(event)[:_EVENT_LENGTH],
        "username": _text(username)[:_USERNAME_LENGTH] if username else username,
        "remote_addr": _text(remote_addr)[:_REMOTE_ADDR_LENGTH] if remote_addr else remote_addr,
        "dag_id": _bounded(dag_id),
        "target": _text(target),
        "extra": extra,
        "task_id": _bounded(task_id),
        "run_id": _bounded(run_id),
        "map_index": map_index,
        "try_number": try_number,
        "execution_date": execution_date,
    }
    _INSERT_ENTRY.execute(session, entry).close()


def record_try_event(session: Session, event: str, request: dict[str, Any], **columns: Any) -> None:
    """An entry the engine writes about one try (Airflow's Log(event, task_instance)): `running` when it
    starts, `failed` when it fails (up for retry or not); the task's owner is the entry's owner.
    `request` is the try's run request (dag_id, task_id, run_id, map_index, try_number, owner);
    `columns` add execution_date, extra, or override what the request says."""
    values = {
        "username": request.get("owner"),
        "remote_addr": None,
        "dag_id": request["dag_id"],
        "task_id": request["task_id"],
        "run_id": request["run_id"],
        "map_index": request.get("map_index", -1),
        "try_number": request["try_number"],
    }
    record(session, event, **{**values, **columns})


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


# The stable API's event logs (Airflow's `log` table): filters, ordering and the answer's shape.
EVENT_LOG_ORDERING = {
    "event_log_id": AuditLog.id,
    "when": AuditLog.dttm,
    "dag_id": AuditLog.dag_id,
    "task_id": AuditLog.task_id,
    "run_id": AuditLog.run_id,
    "event": AuditLog.event,
    "execution_date": AuditLog.execution_date,
    "owner": AuditLog.username,
    # JSON has no ordering operator on PostgreSQL: its text does.
    "extra": cast(AuditLog.extra, Text),
}


@dataclass(frozen=True)
class EventLogFilter:
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    owner: str | None = None
    event: str | None = None
    included_events: list[str] | None = None
    excluded_events: list[str] | None = None
    before: datetime | None = None
    after: datetime | None = None

    def apply(self, statement):
        for column, value in (
            (AuditLog.dag_id, self.dag_id),
            (AuditLog.task_id, self.task_id),
            (AuditLog.run_id, self.run_id),
            (AuditLog.map_index, self.map_index),
            (AuditLog.try_number, self.try_number),
            (AuditLog.event, self.event),
        ):
            if value is not None and value != "":
                statement = statement.where(column == value)
        if self.owner:  # the user, or the OS user of a change made with the `slipstream` command
            statement = statement.where(
                or_(
                    AuditLog.username == self.owner,
                    and_(AuditLog.username.is_(None), AuditLog.remote_addr == f"cli:{self.owner}"),
                )
            )
        if self.included_events:
            statement = statement.where(AuditLog.event.in_(self.included_events))
        if self.excluded_events:
            statement = statement.where(AuditLog.event.not_in(self.excluded_events))
        if self.before is not None:
            statement = statement.where(AuditLog.dttm < self.before)
        if self.after is not None:
            statement = statement.where(AuditLog.dttm > self.after)
        return statement


def list_event_logs(
    session: Session, filters: EventLogFilter, *, order_by: Any, descending: bool, limit: int, offset: int
) -> tuple[list[AuditLog], int]:
    """One page of entries matching `filters`, and how many match in all; ties broken by id."""
    total = session.scalar(filters.apply(select(func.count()).select_from(AuditLog))) or 0
    statement = filters.apply(select(AuditLog))
    key = order_by.desc() if descending else order_by.asc()
    tie = AuditLog.id.desc() if descending else AuditLog.id.asc()
    rows = session.scalars(statement.order_by(key, tie).offset(offset).limit(limit)).all()
    return list(rows), total


def get_event_log(session: Session, event_log_id: int) -> AuditLog | None:
    return session.get(AuditLog, event_log_id)


def _owner(entry: AuditLog) -> str | None:
    """The user; for a change made with the `slipstream` command, the OS user (as Airflow's CLI logs)."""
    if entry.username:
        return entry.username
    address = entry.remote_addr or ""
    if address.startswith("cli:"):
        return address[4:]
    return None


def event_log_to_json(entry: AuditLog) -> dict[str, Any]:
    """Airflow's EventLog object; `extra` is JSON text, as Airflow stores it."""
    return {
        "dag_id": entry.dag_id,
        "event": entry.event,
        "event_log_id": entry.id,
        "execution_date": isoformat(entry.execution_date) or None,
        # An API action's extra is its JSON; the engine's (a heartbeat timeout's) is text, as in Airflow.
        "extra": entry.extra if entry.extra is None or isinstance(entry.extra, str) else json.dumps(entry.extra),
        "map_index": entry.map_index,
        "owner": _owner(entry),
        "run_id": entry.run_id,
        "task_id": entry.task_id,
        "try_number": entry.try_number,
        "when": isoformat(entry.dttm) or None,
    }

"""The metadata database: SQLAlchemy 2 ORM tables. Alembic revisions in migrations/ create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID_LENGTH = 250
POOL_NAME_LENGTH = 256


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which stores naive text) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def bind_processor(self, dialect):
        """On SQLite, process_bind_param and DATETIME's text formatting in one step: the same text
        (its storage format is isoformat's with microseconds), for a third of the cost per value."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        # The same instant is often bound several times in a row (a trigger binds its execution date
        # and its timestamp in several statements), and formatting costs ten times a lookup. Bounded.
        recent: dict[datetime, str] = {}

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is UTC:  # one offset, so equal values are one instant and one text
                rendered = recent.get(value)
                if rendered is None:
                    if len(recent) >= 64:
                        recent.clear()
                    rendered = recent[value] = value.replace(tzinfo=None).isoformat(" ", "microseconds")
                return rendered
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class DagModel(Base):
    """One row per DAG id the dag processor has seen; holds the user-facing flags."""

    __tablename__ = "dag"

    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    fileloc: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    schedule: Mapped[str | None] = mapped_column(String(100), nullable=True)
    catchup: Mapped[bool] = mapped_column(Boolean, default=True)
    max_active_runs: Mapped[int] = mapped_column(Integer, default=16)
    max_active_tasks: Mapped[int] = mapped_column(Integer, default=16)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    last_parsed_time: Mapped[datetime | None] = mapped_column(nullable=True)
    next_dagrun: Mapped[datetime | None] = mapped_column(nullable=True)
    next_dagrun_data_interval_start: Mapped[datetime | None] = mapped_column(nullable=True)
    next_dagrun_data_interval_end: Mapped[datetime | None] = mapped_column(nullable=True)
    next_dagrun_create_after: Mapped[datetime | None] = mapped_column(nullable=True)


class SerializedDagModel(Base):
    """The DAG as the dag processor saw it (JSON), so the API and scheduler never import user code."""

    __tablename__ = "serialized_dag"

    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    fileloc: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    dag_hash: Mapped[str] = mapped_column(String(64))
    last_updated: Mapped[datetime] = mapped_column(default=utcnow)


class DagCode(Base):
    """A DAG file's source, as read when it was last parsed."""

    __tablename__ = "dag_code"

    fileloc: Mapped[str] = mapped_column(String(1000), primary_key=True)
    source_code: Mapped[str] = mapped_column(Text)
    source_hash: Mapped[str] = mapped_column(String(64))
    last_updated: Mapped[datetime] = mapped_column(default=utcnow)


class ImportErrorModel(Base):
    """A DAG file that failed to import, with the error a person needs to fix it."""

    __tablename__ = "import_error"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(1000), unique=True)
    stacktrace: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)


class DagRun(Base):
    __tablename__ = "dag_run"
    __table_args__ = (
        UniqueConstraint("dag_id", "run_id", name="dag_run_dag_id_run_id_key"),
        UniqueConstraint("dag_id", "execution_date", name="dag_run_dag_id_execution_date_key"),
        Index("idx_dag_run_state", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    execution_date: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20), default="queued")
    run_type: Mapped[str] = mapped_column(String(20), default="manual")
    external_trigger: Mapped[bool] = mapped_column(Boolean, default=True)
    conf: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    queued_at: Mapped[datetime | None] = mapped_column(nullable=True)
    start_date: Mapped[datetime | None] = mapped_column(nullable=True)
    end_date: Mapped[datetime | None] = mapped_column(nullable=True)
    data_interval_start: Mapped[datetime | None] = mapped_column(nullable=True)
    data_interval_end: Mapped[datetime | None] = mapped_column(nullable=True)
    last_scheduling_decision: Mapped[datetime | None] = mapped_column(nullable=True)


_HAS_STATE = text("state IS NOT NULL")


class TaskInstance(Base):
    __tablename__ = "task_instance"
    __table_args__ = (
        UniqueConstraint("dag_id", "run_id", "task_id", "map_index", name="task_instance_key"),
        # Partial: new task instances have no state, and every query these serve asks for one.
        Index("idx_ti_state", "state", sqlite_where=_HAS_STATE, postgresql_where=_HAS_STATE),
        Index("idx_ti_pool", "pool", "state", sqlite_where=_HAS_STATE, postgresql_where=_HAS_STATE),
        Index("idx_ti_dag_run_state", "dag_id", "run_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    map_index: Mapped[int] = mapped_column(Integer, default=-1)
    state: Mapped[str | None] = mapped_column(String(20), nullable=True)
    try_number: Mapped[int] = mapped_column(Integer, default=0)
    max_tries: Mapped[int] = mapped_column(Integer, default=0)
    start_date: Mapped[datetime | None] = mapped_column(nullable=True)
    end_date: Mapped[datetime | None] = mapped_column(nullable=True)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    hostname: Mapped[str] = mapped_column(String(1000), default="")
    unixname: Mapped[str] = mapped_column(String(1000), default="")
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pool: Mapped[str] = mapped_column(String(POOL_NAME_LENGTH), default="default_pool")
    pool_slots: Mapped[int] = mapped_column(Integer, default=1)
    queue: Mapped[str] = mapped_column(String(256), default="default")
    priority_weight: Mapped[int] = mapped_column(Integer, default=1)
    operator: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    custom_operator_name: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    queued_dttm: Mapped[datetime | None] = mapped_column(nullable=True)
    queued_by_job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    executor: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    executor_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    external_executor_id: Mapped[str | None] = mapped_column(String(250), nullable=True)
    # When an up_for_retry instance may be scheduled again (end_date + retry delay).
    next_retry_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Last time the process running this try proved it was alive.
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The task's declared inlets/outlets, recorded when the instance executes (served by /lineage).
    lineage: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    rendered_fields: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True, default=utcnow, onupdate=utcnow)


class Pool(Base):
    __tablename__ = "slot_pool"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pool: Mapped[str] = mapped_column(String(POOL_NAME_LENGTH), unique=True)
    slots: Mapped[int] = mapped_column(BigInteger, default=0)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    include_deferred: Mapped[bool] = mapped_column(Boolean, default=False)


class Job(Base):
    """A scheduler (or other long-running process); its heartbeat tells others it is alive."""

    __tablename__ = "job"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_type: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(20), default="running")
    hostname: Mapped[str] = mapped_column(String(500), default="")
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    start_date: Mapped[datetime] = mapped_column(default=utcnow)
    end_date: Mapped[datetime | None] = mapped_column(nullable=True)
    latest_heartbeat: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(256), unique=True)
    password_hash: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AuditLog(Base):
    """Who changed what, when and from where. Kept when a DAG is deleted."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("idx_audit_log_dttm", "dttm"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dttm: Mapped[datetime] = mapped_column(default=utcnow)
    event: Mapped[str] = mapped_column(String(60))
    username: Mapped[str | None] = mapped_column(String(256), nullable=True)
    remote_addr: Mapped[str | None] = mapped_column(String(100), nullable=True)
    dag_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    target: Mapped[str | None] = mapped_column(Text, nullable=True)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


__all__ = [
    "AuditLog",
    "Base",
    "DagCode",
    "DagModel",
    "DagRun",
    "ImportErrorModel",
    "Job",
    "Pool",
    "SerializedDagModel",
    "TaskInstance",
    "User",
    "utcnow",
]

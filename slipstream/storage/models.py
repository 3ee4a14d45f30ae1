"""The metadata database: SQLAlchemy 2 ORM tables. Alembic revisions in migrations/ create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
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
XCOM_KEY_LENGTH = 512


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
    # Covering: the hashes of many DAGs without reading their data (see migration 0011).
    __table_args__ = (Index("idx_serialized_dag_hash", "dag_id", "dag_hash"),)

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
    # The stable API's: a user's note, when the row last changed, how often the run was cleared.
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True, default=utcnow, onupdate=utcnow)
    clear_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


_HAS_STATE = text("state IS NOT NULL")


class TaskInstance(Base):
    __tablename__ = "task_instance"
    __table_args__ = (
        UniqueConstraint("dag_id", "run_id", "task_id", "map_index", name="task_instance_key"),
        # Partial: new task instances have no state, and every query these serve asks for one.
        Index("idx_ti_state", "state", sqlite_where=_HAS_STATE, postgresql_where=_HAS_STATE),
        Index("idx_ti_pool", "pool", "state", sqlite_where=_HAS_STATE, postgresql_where=_HAS_STATE),
        Index("idx_ti_dag_run_state", "dag_id", "run_id", "state"),
        Index("idx_ti_trigger_id", "trigger_id"),
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
    # Deferral (Airflow's columns): the trigger it waits on, when that wait times out, and where it resumes.
    trigger_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    trigger_timeout: Mapped[datetime | None] = mapped_column(nullable=True)
    next_method: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    next_kwargs: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # A mapped instance's map_index_template, rendered after it ran (task-model-semantics §11).
    rendered_map_index: Mapped[str | None] = mapped_column(String(250), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True, default=utcnow, onupdate=utcnow)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class TaskInstanceHistory(Base):
    """An earlier try of a task instance, copied from task_instance when the instance is cleared or retried
    (Airflow 2.10's task_instance_history): what /tries lists beside the current row."""

    __tablename__ = "task_instance_history"
    __table_args__ = (
        UniqueConstraint("dag_id", "run_id", "task_id", "map_index", "try_number", name="task_instance_history_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    map_index: Mapped[int] = mapped_column(Integer, default=-1)
    try_number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str | None] = mapped_column(String(20), nullable=True)
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
    executor_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    external_executor_id: Mapped[str | None] = mapped_column(String(250), nullable=True)
    rendered_map_index: Mapped[str | None] = mapped_column(String(250), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class DagWarning(Base):
    """A problem with a DAG that does not stop it from loading (a task naming a pool that does not exist)."""

    __tablename__ = "dag_warning"

    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    warning_type: Mapped[str] = mapped_column(String(50), primary_key=True)
    message: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)


class XCom(Base):
    """A value a task instance pushed (or returned), as JSON text; Airflow's key and columns."""

    __tablename__ = "xcom"
    __table_args__ = (Index("idx_xcom_task_instance", "dag_id", "task_id", "run_id", "map_index"),)

    dag_run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    map_index: Mapped[int] = mapped_column(Integer, primary_key=True, default=-1)
    key: Mapped[str] = mapped_column(String(XCOM_KEY_LENGTH), primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    value: Mapped[str | None] = mapped_column(Text, nullable=True)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)


class TaskReschedule(Base):
    """One reschedule of a reschedule-mode sensor's try: when it poked and when it pokes next."""

    __tablename__ = "task_reschedule"
    __table_args__ = (Index("idx_task_reschedule_ti", "dag_id", "run_id", "task_id", "map_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    map_index: Mapped[int] = mapped_column(Integer, default=-1)
    try_number: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[datetime]
    end_date: Mapped[datetime]
    duration: Mapped[int] = mapped_column(Integer)
    reschedule_date: Mapped[datetime]


class Trigger(Base):
    """A trigger deferred task instances wait on; the triggerer that runs it claims it (triggerer_id)."""

    __tablename__ = "trigger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    classpath: Mapped[str] = mapped_column(String(1000))
    kwargs: Mapped[str] = mapped_column(Text)  # serialized, then Fernet-encrypted (as Airflow does)
    created_date: Mapped[datetime] = mapped_column(default=utcnow)
    triggerer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class TaskMap(Base):
    """The length (and dict keys) of a producer's return value, recorded with its success when a
    mapped task expands over it (task-model-semantics §11)."""

    __tablename__ = "task_map"
    __table_args__ = (CheckConstraint("length >= 0", name="task_map_length_not_negative"),)

    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    map_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    length: Mapped[int] = mapped_column(Integer)
    keys: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)


class Variable(Base):
    """A variable tasks read with Variable.get; the value is Fernet-encrypted text (slipstream.storage.encryption)."""

    __tablename__ = "variable"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    val: Mapped[str | None] = mapped_column(Text, nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)


class Connection(Base):
    """A connection hooks read with BaseHook.get_connection; password and extra are Fernet-encrypted."""

    __tablename__ = "connection"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conn_id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    conn_type: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    host: Mapped[str | None] = mapped_column(String(500), nullable=True)
    schema: Mapped[str | None] = mapped_column(String(500), nullable=True)
    login: Mapped[str | None] = mapped_column(Text, nullable=True)
    password: Mapped[str | None] = mapped_column(Text, nullable=True)
    port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    extra: Mapped[str | None] = mapped_column(Text, nullable=True)


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
    # The task-level columns of Airflow's `log` table, which /api/v1/eventLogs filters on.
    task_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    map_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    try_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    execution_date: Mapped[datetime | None] = mapped_column(nullable=True)


__all__ = [
    "AuditLog",
    "Base",
    "Connection",
    "DagCode",
    "DagModel",
    "DagRun",
    "DagWarning",
    "ImportErrorModel",
    "Job",
    "Pool",
    "SerializedDagModel",
    "TaskInstance",
    "TaskInstanceHistory",
    "TaskReschedule",
    "Trigger",
    "User",
    "Variable",
    "XCom",
    "utcnow",
]

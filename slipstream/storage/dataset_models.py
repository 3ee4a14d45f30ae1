"""Dataset tables (task-model-semantics §13), Airflow 2.10's names and columns; migration 0007 makes them.

dataset: every URI a DAG file names as an outlet or schedule (or an alias resolved to). dataset_event:
one per successful producing try. dataset_dag_run_queue: per consumer DAG, the datasets with events
since its last dataset-triggered run. dagrun_dataset_event: the events a dataset-triggered run consumed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from slipstream.storage.models import ID_LENGTH, Base, utcnow

URI_LENGTH = 3000


class DatasetModel(Base):
    __tablename__ = "dataset"
    __table_args__ = (UniqueConstraint("uri", name="idx_uri_unique"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(URI_LENGTH))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    is_orphaned: Mapped[bool] = mapped_column(Boolean, default=False)


class DatasetAliasModel(Base):
    __tablename__ = "dataset_alias"
    __table_args__ = (UniqueConstraint("name", name="idx_name_unique"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(URI_LENGTH))


class DatasetAliasDataset(Base):
    """Which datasets an alias resolved to (through events written with outlet_events[alias].add)."""

    __tablename__ = "dataset_alias_dataset"

    alias_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class DatasetEvent(Base):
    __tablename__ = "dataset_event"
    __table_args__ = (Index("idx_dataset_id_timestamp", "dataset_id", "timestamp"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(Integer)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source_task_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    source_dag_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    source_run_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    source_map_index: Mapped[int | None] = mapped_column(Integer, nullable=True, default=-1)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetDagRunQueue(Base):
    __tablename__ = "dataset_dag_run_queue"
    __table_args__ = (Index("idx_dataset_dag_run_queue_target_dag_id", "target_dag_id"),)

    dataset_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DagScheduleDatasetReference(Base):
    """A DAG scheduled on a dataset (its schedule names the URI)."""

    __tablename__ = "dag_schedule_dataset_reference"
    __table_args__ = (Index("idx_dag_schedule_dataset_reference_dag_id", "dag_id"),)

    dataset_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DagScheduleDatasetAliasReference(Base):
    """A DAG scheduled on a dataset alias."""

    __tablename__ = "dag_schedule_dataset_alias_reference"

    alias_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskOutletDatasetReference(Base):
    __tablename__ = "task_outlet_dataset_reference"
    __table_args__ = (Index("idx_task_outlet_dataset_reference_dag_id", "dag_id"),)

    dataset_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DagRunDatasetEvent(Base):
    """The events a dataset-triggered run consumed (its triggering_dataset_events)."""

    __tablename__ = "dagrun_dataset_event"
    __table_args__ = (Index("idx_dagrun_dataset_events_event_id", "event_id"),)

    dag_run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(Integer, primary_key=True)

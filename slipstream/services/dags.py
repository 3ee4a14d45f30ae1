"""DAGs as the dag processor recorded them: listing DAGs and the files that failed to import."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipstream.models import DagModel, ImportErrorModel

# -- listing (dag processor) ------------------------------------------------------------------------


@dataclass(frozen=True)
class DagSummary:
    dag_id: str
    is_paused: bool
    is_active: bool
    fileloc: str
    schedule: str | None
    tags: list[str]
    last_parsed_time: datetime | None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_parsed_time"] = self.last_parsed_time.isoformat() if self.last_parsed_time else None
        return data


@dataclass(frozen=True)
class ImportErrorSummary:
    filename: str
    stacktrace: str
    timestamp: datetime | None

    @property
    def last_line(self) -> str:
        """The line that names the error, e.g. `ValueError: boom`."""
        lines = [line for line in self.stacktrace.strip().splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "stacktrace": self.stacktrace,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
        }


def list_dags(session: Session, *, include_inactive: bool = True) -> list[DagSummary]:
    """Every DAG the dag processor has seen, by dag_id; inactive ones (file or DAG gone) included by default."""
    query = select(DagModel).order_by(DagModel.dag_id)
    if not include_inactive:
        query = query.where(DagModel.is_active.is_(True))
    return [
        DagSummary(
            dag_id=row.dag_id,
            is_paused=bool(row.is_paused),
            is_active=bool(row.is_active),
            fileloc=row.fileloc,
            schedule=row.schedule,
            tags=list(row.tags or []),
            last_parsed_time=row.last_parsed_time,
        )
        for row in session.scalars(query)
    ]


def list_import_errors(session: Session) -> list[ImportErrorSummary]:
    """The files whose last import failed, by filename, with the traceback."""
    return [
        ImportErrorSummary(filename=row.filename, stacktrace=row.stacktrace, timestamp=row.timestamp)
        for row in session.scalars(select(ImportErrorModel).order_by(ImportErrorModel.filename))
    ]


# -- end of listing ----------------------------------------------------------------------------------

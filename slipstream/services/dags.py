"""DAGs as the dag processor recorded them: listing DAGs and the files that failed to import."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from slipstream.storage.models import DagModel, DagRun, ImportErrorModel

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


# -- the stable API's import errors (by id, paginated) -------------------------------------------------

IMPORT_ERROR_SORTABLE = {
    "import_error_id": ImportErrorModel.id,
    "timestamp": ImportErrorModel.timestamp,
    "filename": ImportErrorModel.filename,
}


def page_import_errors(
    session: Session, *, order_column: Any, descending: bool, limit: int, offset: int
) -> tuple[list[ImportErrorModel], int]:
    total = session.scalar(select(func.count()).select_from(ImportErrorModel)) or 0
    order = order_column.desc() if descending else order_column.asc()
    rows = session.scalars(select(ImportErrorModel).order_by(order, ImportErrorModel.id).offset(offset).limit(limit))
    return list(rows), total


def get_import_error(session: Session, import_error_id: int) -> ImportErrorModel | None:
    return session.get(ImportErrorModel, import_error_id)


def import_error_json(row: ImportErrorModel) -> dict[str, Any]:
    return {
        "filename": row.filename,
        "import_error_id": row.id,
        "stack_trace": row.stacktrace,
        "timestamp": row.timestamp.isoformat() if row.timestamp else None,
    }


# -- run counts per state (/dagStats) ------------------------------------------------------------------

DAG_RUN_STATES = ("queued", "running", "success", "failed")


def dag_stats(session: Session, dag_ids: list[str]) -> list[dict[str, Any]]:
    """Each existing DAG among `dag_ids` (in the order given) with its run count in every state."""
    wanted = list(dict.fromkeys(dag_ids))
    if not wanted:
        return []
    existing = set(session.scalars(select(DagModel.dag_id).where(DagModel.dag_id.in_(wanted))))
    counts = {
        (dag_id, state): count
        for dag_id, state, count in session.execute(
            select(DagRun.dag_id, DagRun.state, func.count())
            .where(DagRun.dag_id.in_(sorted(existing)))
            .group_by(DagRun.dag_id, DagRun.state)
        )
    }
    return [
        {
            "dag_id": dag_id,
            "stats": [{"count": counts.get((dag_id, state), 0), "state": state} for state in DAG_RUN_STATES],
        }
        for dag_id in wanted
        if dag_id in existing
    ]

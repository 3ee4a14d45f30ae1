"""Asking the dag processor to parse a file again now (PUT /api/v1/parseDagFile).

The request is a mark on the file's stored code (dag_code.source_hash set to REPARSE_REQUESTED): the
dag processor looks for marks every second between its passes, parses the marked files at once, and
clears the mark whatever the outcome. A second request while one is pending is a duplicate, as in Airflow.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from slipstream.storage.models import DagCode, DagModel

REPARSE_REQUESTED = "reparse-requested"


def dags_of_file(session: Session, fileloc: str) -> list[str]:
    return list(session.scalars(select(DagModel.dag_id).where(DagModel.fileloc == fileloc)))


def request_reparse(session: Session, fileloc: str, now: datetime) -> bool:
    """Mark `fileloc` for parsing; False when it was marked already (a duplicate request)."""
    row = session.get(DagCode, fileloc)
    if row is None:  # its code was never stored (or was removed): an empty placeholder carries the mark
        session.add(DagCode(fileloc=fileloc, source_code="", source_hash=REPARSE_REQUESTED, last_updated=now))
        session.flush()
        return True
    if row.source_hash == REPARSE_REQUESTED:
        return False
    row.source_hash = REPARSE_REQUESTED
    session.flush()
    return True


def requested_files(session: Session) -> set[str]:
    return set(session.scalars(select(DagCode.fileloc).where(DagCode.source_hash == REPARSE_REQUESTED)))


def clear_requests(session: Session, parsed: set[str], hash_of) -> None:
    """Files parsed this pass lose their mark: their code gets its real hash back."""
    marked = requested_files(session) & parsed
    for fileloc in marked:
        source = session.scalar(select(DagCode.source_code).where(DagCode.fileloc == fileloc)) or ""
        session.execute(update(DagCode).where(DagCode.fileloc == fileloc).values(source_hash=hash_of(source)))

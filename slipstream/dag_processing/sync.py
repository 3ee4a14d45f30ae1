"""Write what a parsing pass found into the metadata DB, in the caller's session (one unit of work).

Rules, per DAG file:
- a DAG it defines is upserted (DagModel, SerializedDagModel, DagCode); a first-seen DAG gets its
  initial pause flag, an existing row's `is_paused` is never touched;
- its import error row is written, or deleted when the file now parses cleanly;
- a DAG that vanished from a file that parsed cleanly is deactivated and its serialized row deleted.
  A file that fails to import keeps its DAGs as last parsed: a typo must not make a production DAG
  disappear from the API (the import error says what is wrong);
- a dag_id defined by two files stays with the file that already owns it (or the first by path);
  the other file gets an import error.
Files that are gone (not in `alive_files`) lose their DAGs (deactivated; runs are kept), their code
and their import errors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, load_only

from slipstream.dag_processing.parsing import FileResult
from slipstream.sdk.serialization import dag_hash
from slipstream.services.dag_warnings import sync_pool_warnings
from slipstream.services.datasets import sync_dataset_references
from slipstream.services.reparse import clear_requests
from slipstream.storage.models import DagCode, DagModel, DagRun, ImportErrorModel, Pool, SerializedDagModel
from slipstream.timetables import next_dagrun_info

EXAMPLE_POOL_NAME = "example_single_slot_pool"
EXAMPLE_POOL_DESCRIPTION = "Used by example_pool"
_SCHEDULE_LENGTH = DagModel.__table__.c.schedule.type.length or 100


@dataclass
class SyncOutcome:
    dag_ids: list[str] = field(default_factory=list)
    dag_files: dict[str, str] = field(default_factory=dict)  # dag_id -> the file it was written from
    import_errors: dict[str, str] = field(default_factory=dict)
    deactivated: list[str] = field(default_factory=list)


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def duplicate_message(dag_id: str, incoming: str, existing: str) -> str:
    return f"AirflowDagDuplicatedIdException: Ignoring DAG {dag_id} from {incoming} - also found in {existing}"


def sync_results(
    session: Session,
    results: Iterable[FileResult],
    *,
    alive_files: set[str],
    paused_at_creation: bool,
    now: datetime,
) -> SyncOutcome:
    """Apply one pass's FileResults; `alive_files` are all DAG files that exist now, parsed or not."""
    results = sorted(results, key=lambda r: r.path)
    parsed_files = {r.path for r in results}
    outcome = SyncOutcome()
    existing = {row.dag_id: row for row in session.scalars(select(DagModel))}
    owners = _choose_owners(results, existing, alive_files, parsed_files)

    wanted: dict[str, tuple[FileResult, dict[str, Any]]] = {}
    file_errors: dict[str, list[str]] = {r.path: [r.error] if r.error else [] for r in results}
    for result in results:
        for data in result.dags:
            dag_id = data["dag_id"]
            owner = owners[dag_id]
            if owner == result.path:
                wanted[dag_id] = (result, data)
            else:
                file_errors[result.path].append(duplicate_message(dag_id, result.path, owner))

    serialized = {
        row.dag_id: row
        for row in session.scalars(
            select(SerializedDagModel)
            .options(load_only(SerializedDagModel.dag_id, SerializedDagModel.dag_hash, SerializedDagModel.fileloc))
            .where(SerializedDagModel.dag_id.in_(list(wanted)))
        )
    }
    changed: dict[str, dict[str, Any]] = {}
    for dag_id, (result, data) in wanted.items():
        if _upsert_dag(session, existing, serialized, data, result.path, paused_at_creation, now):
            changed[dag_id] = data
        outcome.dag_ids.append(dag_id)
        outcome.dag_files[dag_id] = result.path
    _write_next_dagruns(session, existing, changed, now)

    sync_dataset_references(session, {dag_id: data for dag_id, (_, data) in wanted.items()}, now)
    code_files = {result.path: result.source for result, _ in wanted.values()}
    _upsert_code(session, code_files, now)
    clear_requests(session, parsed_files, source_hash)
    outcome.import_errors = _write_import_errors(session, file_errors, now)

    # Deactivate: DAGs of files that are gone, and DAGs that vanished from a file that parsed cleanly.
    clean_files = {r.path for r in results if r.error is None}
    to_deactivate = [
        row
        for row in existing.values()
        if row.is_active and row.dag_id not in wanted and (row.fileloc not in alive_files or row.fileloc in clean_files)
    ]
    for row in to_deactivate:
        row.is_active = False
    outcome.deactivated = sorted(row.dag_id for row in to_deactivate)
    gone_ids = [row.dag_id for row in to_deactivate]
    if gone_ids:
        session.execute(delete(SerializedDagModel).where(SerializedDagModel.dag_id.in_(gone_ids)))

    _forget_files(session, alive_files, parsed_files)
    session.flush()
    sync_pool_warnings(session, {dag_id: data for dag_id, (_, data) in wanted.items()}, now)
    return outcome


def _choose_owners(
    results: list[FileResult], existing: dict[str, DagModel], alive_files: set[str], parsed_files: set[str]
) -> dict[str, str]:
    """dag_id -> the one file allowed to define it this pass."""
    candidates: dict[str, list[str]] = {}
    for result in results:
        for data in result.dags:
            candidates.setdefault(data["dag_id"], []).append(result.path)
    owners: dict[str, str] = {}
    for dag_id, files in candidates.items():
        row = existing.get(dag_id)
        current = row.fileloc if row is not None and row.is_active else None
        if current in files:
            owners[dag_id] = current
        elif current is not None and current in alive_files and current not in parsed_files:
            # Owned by a file not re-parsed this pass (unchanged, so it still defines the DAG).
            owners[dag_id] = current
        else:
            owners[dag_id] = files[0]
    return owners


def _upsert_dag(
    session: Session,
    existing: dict[str, DagModel],
    serialized: dict[str, SerializedDagModel],
    data: dict[str, Any],
    fileloc: str,
    paused_at_creation: bool,
    now: datetime,
) -> bool:
    """Write one DAG; True when it is new or its serialized form changed."""
    dag_id = data["dag_id"]
    row = existing.get(dag_id)
    created = row is None
    if row is None:
        on_creation = data.get("is_paused_upon_creation")
        row = DagModel(dag_id=dag_id, is_paused=paused_at_creation if on_creation is None else bool(on_creation))
        session.add(row)
        existing[dag_id] = row
    row.is_active = True
    row.fileloc = fileloc
    row.description = data.get("description")
    expression = (data.get("schedule") or {}).get("expression")
    row.schedule = None if expression is None else str(expression)[:_SCHEDULE_LENGTH]
    row.catchup = bool(data.get("catchup", True))
    row.max_active_runs = int(data.get("max_active_runs", 16))
    row.max_active_tasks = int(data.get("max_active_tasks", 16))
    row.tags = list(data.get("tags") or [])
    row.last_parsed_time = now

    digest = dag_hash(data)
    stored = serialized.get(dag_id)
    if stored is None:
        session.add(SerializedDagModel(dag_id=dag_id, fileloc=fileloc, data=data, dag_hash=digest, last_updated=now))
        return True
    if stored.dag_hash != digest:
        stored.data = data
        stored.dag_hash = digest
        stored.fileloc = fileloc
        stored.last_updated = now
        return True
    return created


_SCHEDULED_RUN_TYPES = ("scheduled", "backfill")


def _write_next_dagruns(
    session: Session, existing: dict[str, DagModel], changed: dict[str, dict[str, Any]], now: datetime
) -> None:
    """next_dagrun* of new and changed DAGs, paused or not, as Airflow's dag processor writes them (the
    scheduler keeps them current afterwards). A schedule that cannot say leaves them empty."""
    if not changed:
        return
    from slipstream.scheduler.dag_specs import DagSpec

    last_runs: dict[str, tuple[datetime, datetime]] = {}
    rows = session.execute(
        select(DagRun.dag_id, DagRun.data_interval_start, DagRun.data_interval_end, DagRun.execution_date)
        .where(DagRun.dag_id.in_(sorted(changed)), DagRun.run_type.in_(_SCHEDULED_RUN_TYPES))
        .order_by(DagRun.dag_id, DagRun.execution_date)
    ).all()
    for dag_id, start, end, logical_date in rows:  # the latest automated run of each DAG wins
        last_runs[dag_id] = (start or logical_date, end or logical_date)
    for dag_id, data in changed.items():
        spec = DagSpec.from_serialized(data, "")
        try:
            info = next_dagrun_info(
                spec.schedule,
                earliest=spec.earliest,
                latest=spec.latest,
                catchup=spec.catchup,
                last_automated=last_runs.get(dag_id),
                now=now,
            )
        except Exception:  # a custom timetable raising: the scheduler logs it when it tries
            info = None
        row = existing[dag_id]
        row.next_dagrun = info.logical_date if info else None
        row.next_dagrun_data_interval_start = info.data_interval_start if info else None
        row.next_dagrun_data_interval_end = info.data_interval_end if info else None
        row.next_dagrun_create_after = info.run_after if info else None


def _upsert_code(session: Session, code_files: dict[str, str], now: datetime) -> None:
    if not code_files:
        return
    rows = {
        row.fileloc: row
        for row in session.scalars(
            select(DagCode)
            .options(load_only(DagCode.fileloc, DagCode.source_hash))
            .where(DagCode.fileloc.in_(list(code_files)))
        )
    }
    for fileloc, source in code_files.items():
        digest = source_hash(source)
        row = rows.get(fileloc)
        if row is None:
            session.add(DagCode(fileloc=fileloc, source_code=source, source_hash=digest, last_updated=now))
        elif row.source_hash != digest:
            row.source_code = source
            row.source_hash = digest
            row.last_updated = now


def _write_import_errors(session: Session, file_errors: dict[str, list[str]], now: datetime) -> dict[str, str]:
    if not file_errors:
        return {}
    rows = {
        row.filename: row
        for row in session.scalars(select(ImportErrorModel).where(ImportErrorModel.filename.in_(list(file_errors))))
    }
    written: dict[str, str] = {}
    for filename, errors in file_errors.items():
        row = rows.get(filename)
        if not errors:
            if row is not None:
                session.delete(row)
            continue
        stacktrace = "\n".join(errors)
        written[filename] = stacktrace
        if row is None:
            session.add(ImportErrorModel(filename=filename, stacktrace=stacktrace, timestamp=now))
        else:
            row.stacktrace = stacktrace
            row.timestamp = now
    return written


def _forget_files(session: Session, alive_files: set[str], parsed_files: set[str]) -> None:
    """Code and import errors of files that no longer exist go; the DAG rows stay (inactive)."""
    known = alive_files | parsed_files
    for model, column in ((DagCode, DagCode.fileloc), (ImportErrorModel, ImportErrorModel.filename)):
        stale = [name for name in session.scalars(select(column)) if name not in known]
        if stale:
            session.execute(delete(model).where(column.in_(stale)))


def ensure_example_pool(session: Session) -> bool:
    """Create the pool example_pool needs, only if absent (a user's own slots are kept). True if created."""
    if session.scalar(select(Pool.id).where(Pool.pool == EXAMPLE_POOL_NAME)) is not None:
        return False
    session.add(Pool(pool=EXAMPLE_POOL_NAME, slots=1, description=EXAMPLE_POOL_DESCRIPTION, include_deferred=False))
    return True

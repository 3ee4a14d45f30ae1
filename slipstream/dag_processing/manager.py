"""Passes over the DAG files: find them, parse the changed ones in parallel children, sync the DB.

`process_all` is one pass; `run_dag_processor` loops it; `DagFileProcessorThread` runs that loop in
a thread of a bigger process (`slipstream standalone`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import slipstream
from slipstream.airflow_namespace import describe as describe_airflow_namespace
from slipstream.config import Settings
from slipstream.dag_processing.parsing import FileResult, ParsingCancelled, process_file
from slipstream.dag_processing.sync import SyncOutcome, ensure_example_pool, sync_results
from slipstream.services.reparse import requested_files
from slipstream.storage.db import session_scope
from slipstream.storage.db_errors import DatabaseOutage
from slipstream.storage.models import DagModel, ImportErrorModel, SerializedDagModel, utcnow

logger = logging.getLogger("slipstream.dag_processing")

EXAMPLE_DAGS_FOLDER = Path(slipstream.__file__).resolve().parent / "example_dags"
MAX_PARALLEL_PARSERS = 4
# How often the loop looks for files the API asked to parse again (PUT /api/v1/parseDagFile) between passes.
REPARSE_POLL_INTERVAL = 1.0


# -- finding DAG files -------------------------------------------------------------------------------


def might_contain_dag(path: str | os.PathLike[str]) -> bool:
    """Airflow's safe mode: only files mentioning both "dag" and "airflow"/"slipstream" are imported."""
    try:
        with open(path, "rb") as handle:
            content = handle.read().lower()
    except OSError:
        return False
    return b"dag" in content and (b"slipstream" in content or b"airflow" in content)


def _is_candidate_name(name: str) -> bool:
    return name.endswith(".py") and not name.startswith((".", "_"))


def _walk_py_files(folder: Path) -> list[str]:
    if folder.is_file():
        return [os.path.abspath(folder)] if folder.suffix == ".py" else []
    found: list[str] = []
    visited: set[str] = set()
    for root, dirs, names in os.walk(os.path.abspath(folder), followlinks=True):
        real = os.path.realpath(root)
        if real in visited:  # a symlink loop
            dirs[:] = []
            continue
        visited.add(real)
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        found.extend(os.path.join(root, name) for name in sorted(names) if _is_candidate_name(name))
    return found


def list_dag_files(settings: Settings) -> list[str]:
    """Absolute paths of the DAG files a pass looks at: the DAGs folder, then the examples if enabled."""
    candidates: list[str] = []
    if settings.dags_folder is not None and Path(settings.dags_folder).exists():
        candidates.extend(_walk_py_files(Path(settings.dags_folder)))
    if settings.load_examples:
        candidates.extend(_walk_py_files(EXAMPLE_DAGS_FOLDER))
    return [path for path in dict.fromkeys(candidates) if might_contain_dag(path)]


# -- the per-process cache ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _SeenFile:
    mtime_ns: int
    size: int
    dag_ids: frozenset[str]
    has_error: bool


class FileCache:
    """What each file looked like when it was last parsed and synced, so a periodic pass re-parses
    only what changed. One per loop; do not share one between passes running at the same time.

    A skipped file is still checked against the DB: if one of its DAGs (or its import error) is no
    longer there (a DAG deleted through the API, a reset DB), the file is parsed again.
    """

    def __init__(self) -> None:
        self._seen: dict[str, _SeenFile] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def get(self, path: str, stat: os.stat_result) -> _SeenFile | None:
        seen = self._seen.get(path)
        if seen is None or (seen.mtime_ns, seen.size) != (stat.st_mtime_ns, stat.st_size):
            return None
        return seen

    def remember(self, path: str, stat: os.stat_result, dag_ids: Iterable[str], has_error: bool) -> None:
        self._seen[path] = _SeenFile(stat.st_mtime_ns, stat.st_size, frozenset(dag_ids), has_error)

    def retain(self, paths: Iterable[str]) -> None:
        keep = set(paths)
        for path in [p for p in self._seen if p not in keep]:
            del self._seen[path]

    def clear(self) -> None:
        self._seen.clear()


# -- one pass ----------------------------------------------------------------------------------------


@dataclass
class ProcessingReport:
    """What one pass did."""

    files: list[str] = field(default_factory=list)  # every DAG file found
    parsed: list[str] = field(default_factory=list)  # parsed this pass
    skipped: list[str] = field(default_factory=list)  # unchanged since the last pass
    dag_ids: list[str] = field(default_factory=list)  # DAGs written this pass
    import_errors: dict[str, str] = field(default_factory=dict)  # file -> error, for files parsed now
    deactivated: list[str] = field(default_factory=list)
    example_pool_created: bool = False
    duration: float = 0.0

    def summary(self) -> str:
        return (
            f"{len(self.files)} DAG files ({len(self.parsed)} parsed, {len(self.skipped)} unchanged): "
            f"{len(self.dag_ids)} DAGs written, {len(self.import_errors)} import errors, "
            f"{len(self.deactivated)} deactivated, in {self.duration:.2f} s"
        )


def process_all(
    settings: Settings,
    session: Session | None = None,
    *,
    cache: FileCache | None = None,
    stop_event: threading.Event | None = None,
) -> ProcessingReport:
    """Parse the DAG files and sync the DB in one write transaction.

    With `session`, everything is written in it and the caller commits (no retry). Without, the pass
    opens its own write session and retries once on an IntegrityError (another process inserted the
    same DAG first). With `cache`, files unchanged since that cache's last pass are not re-parsed.
    Raises ParsingCancelled if `stop_event` is set while parsing (nothing is written then).
    """
    started = time.monotonic()
    report = ProcessingReport()
    stats: dict[str, os.stat_result] = {}
    for path in list_dag_files(settings):
        try:
            stats[path] = os.stat(path)
        except OSError:  # removed since listing
            continue
    report.files = list(stats)

    to_parse = list(stats)
    if cache is not None:
        cache.retain(stats)
        to_parse, report.skipped = _split_unchanged(settings, session, cache, stats)
    report.parsed = to_parse
    results = _parse_files(settings, to_parse, stop_event)

    alive = set(stats)
    paused = settings.dags_are_paused_at_creation

    def write(db: Session) -> tuple[SyncOutcome, bool]:
        created = ensure_example_pool(db) if settings.load_examples else False
        outcome = sync_results(db, results, alive_files=alive, paused_at_creation=paused, now=utcnow())
        db.flush()
        return outcome, created

    if session is not None:
        outcome, report.example_pool_created = write(session)
    else:
        for attempt in (1, 2):
            try:
                with session_scope(settings.database_url) as db:
                    outcome, report.example_pool_created = write(db)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
                logger.info("Another process wrote the same DAGs at the same time; syncing again")

    report.dag_ids = outcome.dag_ids
    report.import_errors = outcome.import_errors
    report.deactivated = outcome.deactivated
    if cache is not None:
        for result in results:
            if result.transient:
                continue
            owned = [dag_id for dag_id in result.dag_ids if outcome.dag_files.get(dag_id) == result.path]
            cache.remember(result.path, stats[result.path], owned, result.path in outcome.import_errors)
    report.duration = time.monotonic() - started
    return report


def _split_unchanged(
    settings: Settings, session: Session | None, cache: FileCache, stats: dict[str, os.stat_result]
) -> tuple[list[str], list[str]]:
    candidates = {path: seen for path, stat in stats.items() if (seen := cache.get(path, stat)) is not None}
    if not candidates:
        return list(stats), []

    def read(db: Session) -> tuple[dict[str, str], set[str], set[str]]:
        active = dict(
            db.execute(
                select(DagModel.dag_id, DagModel.fileloc)
                .join(SerializedDagModel, SerializedDagModel.dag_id == DagModel.dag_id)
                .where(DagModel.is_active.is_(True))
            ).all()
        )
        return active, set(db.scalars(select(ImportErrorModel.filename))), requested_files(db)

    if session is not None:
        active, error_files, requested = read(session)
    else:
        with session_scope(settings.database_url, write=False) as db:
            active, error_files, requested = read(db)

    to_parse: list[str] = []
    skipped: list[str] = []
    for path in stats:
        seen = candidates.get(path)
        still_stored = seen is not None and all(active.get(dag_id) == path for dag_id in seen.dag_ids)
        if still_stored and seen.has_error == (path in error_files) and path not in requested:
            skipped.append(path)
        else:
            to_parse.append(path)
    return to_parse, skipped


def _parse_files(settings: Settings, paths: list[str], stop_event: threading.Event | None) -> list[FileResult]:
    if not paths:
        return []
    folder = settings.dags_folder
    sys_path = [os.path.abspath(folder)] if folder is not None and Path(folder).is_dir() else []
    timeout = settings.dag_file_processor_timeout
    workers = max(1, min(MAX_PARALLEL_PARSERS, os.cpu_count() or 1, len(paths)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dag-parser")
    try:
        futures = [pool.submit(process_file, path, timeout, sys_path=sys_path, stop_event=stop_event) for path in paths]
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# -- the loop ----------------------------------------------------------------------------------------


def run_dag_processor(
    settings: Settings,
    stop_event: threading.Event | None = None,
    interval: float | None = None,
    *,
    on_pass: Callable[[ProcessingReport | None], None] | None = None,
) -> None:
    """Run a pass every `interval` (default settings.dag_dir_list_interval) seconds until stop_event is set.

    A failing pass is logged and the loop goes on. `on_pass` is called after every pass with its
    report, or None when the pass failed.
    """
    stop_event = stop_event or threading.Event()
    interval = settings.dag_dir_list_interval if interval is None else interval
    cache = FileCache()
    logger.info("DAG processor started: %s every %g s", settings.dags_folder, interval)
    logger.info(describe_airflow_namespace())
    outage = DatabaseOutage("DAG processor", logger)
    while not stop_event.is_set():
        report: ProcessingReport | None = None
        pause = interval
        try:
            report = process_all(settings, cache=cache, stop_event=stop_event)
        except ParsingCancelled:
            break
        except Exception as exc:
            cache.clear()
            if outage.is_outage(exc):  # logged once per outage; tried again with backoff, not every interval
                pause = min(interval, outage.failed(exc)) if interval > 0 else outage.failed(exc)
            else:
                logger.exception("DAG processing pass failed; trying again in %g s", interval)
        else:
            outage.succeeded()
            for filename, error in report.import_errors.items():
                logger.warning("Import error in %s:\n%s", filename, error)
            log = logger.info if report.parsed or report.deactivated else logger.debug
            log("DAG processing pass: %s", report.summary())
        if on_pass is not None:
            try:
                on_pass(report)
            except Exception:
                logger.exception("on_pass callback failed")
        _wait_for_next_pass(settings, stop_event, pause)
    logger.info("DAG processor stopped")


def _wait_for_next_pass(settings: Settings, stop_event: threading.Event, interval: float) -> None:
    """Until `interval` has passed, or sooner when a file was asked to be parsed again."""
    deadline = time.monotonic() + interval
    while not stop_event.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        if stop_event.wait(min(REPARSE_POLL_INTERVAL, remaining)):
            return
        try:
            with session_scope(settings.database_url, write=False) as db:
                if requested_files(db):
                    return
        except Exception:  # the database is away: the regular pass will say so
            logger.debug("Could not look for reparse requests", exc_info=True)


class DagFileProcessorThread(threading.Thread):
    """`run_dag_processor` in a daemon thread, for processes that also do other things.

    Parsing happens in child processes, so the thread itself only waits and writes to the DB.
    """

    def __init__(self, settings: Settings, interval: float | None = None):
        super().__init__(name="slipstream-dag-processor", daemon=True)
        self.settings = settings
        self.interval = interval
        self.stop_event = threading.Event()
        self.first_pass_done = threading.Event()
        self.last_report: ProcessingReport | None = None

    def run(self) -> None:
        run_dag_processor(self.settings, self.stop_event, self.interval, on_pass=self._after_pass)

    def _after_pass(self, report: ProcessingReport | None) -> None:
        if report is not None:
            self.last_report = report
        self.first_pass_done.set()

    def wait_for_first_pass(self, timeout: float | None = None) -> bool:
        """True once a first pass has finished (well or not); False if `timeout` ran out first."""
        return self.first_pass_done.wait(timeout)

    def stop(self, timeout: float | None = 10.0) -> None:
        """Ask the loop to stop (a running child is killed within ~0.1 s) and wait for the thread."""
        self.stop_event.set()
        if self.is_alive():
            self.join(timeout)

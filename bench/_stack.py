"""The engine the long-running benchmarks drive (bench.burst, bench.soak): one DAG file, a real
`slipstream scheduler` and a real `slipstream api`, on a scratch SQLite file (WAL) or a scratch
PostgreSQL database, all removed afterwards; and the process-tree readings they report.

    with engine_stack("my_dag", DAG_SOURCE, prefix="slipstream_burst_") as stack:
        ...  stack.server.port, stack.scheduler.pid, stack.settings.database_url ...
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.api import REPO_ROOT, Server, running_server


@dataclass
class Stack:
    home: Path
    settings: object  # slipstream.config.Settings
    server: Server
    scheduler: subprocess.Popen
    scheduler_log: Path
    backend: str  # "SQLite WAL" or "PostgreSQL"

    def scheduler_log_tail(self, lines: int = 15) -> list[str]:
        return self.scheduler_log.read_text(errors="replace").splitlines()[-lines:]


def _scratch_postgres(admin_url: str, name: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_postgres(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    from slipstream.storage.db import dispose_all

    dispose_all()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def stop_process(process: subprocess.Popen | None, grace: float = 30.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def engine_stack(
    dag_id: str, dag_source: str, *, prefix: str, postgres_admin_url: str | None = None, keep_home: bool = False
) -> Iterator[Stack]:
    """API server (one worker) and scheduler over a fresh database holding one parsed DAG file.

    With `postgres_admin_url` the database is a scratch PostgreSQL database created (and dropped
    afterwards) on that server; otherwise a SQLite file in the scratch home.
    """
    from slipstream.config import Settings
    from slipstream.dag_processing import process_all
    from slipstream.storage.migrations.runner import upgrade

    home = Path(tempfile.mkdtemp(prefix=prefix))
    pg_name = f"{prefix.strip('_')}_{os.getpid()}" if postgres_admin_url else None
    scheduler = None
    try:
        if postgres_admin_url:
            database_url = _scratch_postgres(postgres_admin_url, pg_name)
            backend = "PostgreSQL"
        else:
            database_url = f"sqlite:///{home / 'slipstream.db'}"
            backend = "SQLite WAL"
        settings = Settings(home=home, database_url=database_url, load_examples=False)
        settings.dags_folder.mkdir(parents=True)
        (settings.dags_folder / f"{dag_id}.py").write_text(textwrap.dedent(dag_source))
        upgrade(settings.database_url, default_pool_slots=settings.default_pool_slots)
        process_all(settings)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPSTREAM_")}
        env.update(
            SLIPSTREAM_HOME=str(home),
            SLIPSTREAM_DATABASE_URL=settings.database_url,
            SLIPSTREAM_DAGS_FOLDER=str(settings.dags_folder),
            SLIPSTREAM_LOAD_EXAMPLES="false",
            SLIPSTREAM_HOST="127.0.0.1",
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        )
        log_path = home / "scheduler.log"
        with open(log_path, "wb") as log:  # the child has its own copy of the descriptor
            scheduler = subprocess.Popen(
                [sys.executable, "-m", "slipstream.cli", "scheduler"], env=env, stdout=log, stderr=log, cwd=REPO_ROOT
            )
        with running_server("slipstream", env, 1) as server:
            yield Stack(home, settings, server, scheduler, log_path, backend)
    finally:
        stop_process(scheduler)
        if pg_name is not None:
            try:
                _drop_postgres(postgres_admin_url, pg_name)
            except Exception as exc:  # noqa: BLE001 - a leftover scratch database is reported, not fatal
                print(f"   (could not drop the scratch database {pg_name}: {exc})")
        if keep_home or os.environ.get("BENCH_KEEP_HOME"):
            print(f"   (kept {home})")
        else:
            shutil.rmtree(home, ignore_errors=True)


def _status_lines(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/status").read_text().splitlines()


def peak_rss_mb(pid: int) -> float:
    """The largest VmHWM (peak resident set) among a process and its descendants, in MB."""
    from bench._load import _process_tree

    peak = 0
    for child in _process_tree(pid):
        try:
            for line in _status_lines(child):
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak / 1024


def rss_and_fds(pid: int) -> tuple[float, int]:
    """Current RSS (MB) and open descriptors, summed over a process and its descendants."""
    from bench._load import _process_tree

    rss_kb, fds = 0, 0
    for child in _process_tree(pid):
        try:
            for line in _status_lines(child):
                if line.startswith("VmRSS:"):
                    rss_kb += int(line.split()[1])
            fds += len(os.listdir(f"/proc/{child}/fd"))
        except OSError:
            continue
    return rss_kb / 1024, fds

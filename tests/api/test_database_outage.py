"""A full disk or a lost database: the API answers 503 (never 500, never a half-written run) and
recovers by itself when the disk or the server is back."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from slipstream.api.app import create_app
from slipstream.storage.db import dispose_all, session_scope
from slipstream.storage.models import DagRun, TaskInstance
from tests.api.support import BASE, BASH_DAG, PROBLEM_JSON, api_settings, copy_database
from tests.live_server import free_port

RUNS = f"{BASE}/dags/{BASH_DAG}/dag_runs"
WHEN = datetime(2031, 1, 1, tzinfo=UTC)


def trigger(client, number: int):
    body = {"run_id": f"outage_{number}", "execution_date": (WHEN + timedelta(seconds=number)).isoformat()}
    return client.post(RUNS, json=body)


def assert_unavailable(response) -> dict:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert body["status"] == 503 and body["error"] == body["detail"] and "metadata database" in body["error"]
    return body


def stored_runs(database_url: str) -> dict[str, int]:
    """run_id -> how many task instances it has, for the runs this module triggers."""
    with session_scope(database_url, write=False) as session:
        runs = session.scalars(select(DagRun.run_id).where(DagRun.run_id.like("outage_%"))).all()
        tis = session.scalars(select(TaskInstance.run_id).where(TaskInstance.run_id.like("outage_%"))).all()
    return {run_id: tis.count(run_id) for run_id in runs}


@pytest.fixture
def tmpfs(tmp_path) -> Path:
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount_point)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    yield mount_point
    dispose_all()
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_gives_503_and_recovers(example_dags_database, postgres_databases, tmpfs, tmp_path):
    if postgres_databases is not None:
        pytest.skip("SQLite's disk")
    url = copy_database(example_dags_database, tmpfs, None)
    settings = api_settings(tmp_path / "home", database_url=url)
    settings.dags_folder.mkdir(parents=True)
    client = create_app(settings).test_client()
    assert trigger(client, 0).status_code == 200
    # Fill what is left of the disk.
    filler = tmpfs / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    refused = 0
    for number in range(1, 40):
        response = trigger(client, number)
        if response.status_code == 200:
            continue  # room left in the WAL's pages; keep writing until the disk stops it
        body = assert_unavailable(response)
        assert "disk is full" in body["error"]
        refused += 1
        if refused >= 3:
            break
    assert refused >= 3, "the disk never filled"
    answered = {run_id for run_id in stored_runs(url)}
    # Reads that need no new space still work.
    assert client.get(RUNS).status_code in (200, 503)
    filler.unlink()
    response = trigger(client, 100)
    assert response.status_code == 200, response.text
    runs = stored_runs(url)
    assert "outage_100" in runs
    assert set(runs) - answered == {"outage_100"}
    # Every stored run is whole: a run and all its task instances, or nothing.
    assert len(set(runs.values())) == 1, runs


# -- PostgreSQL stopped mid-storm, on a private cluster (never the machine's shared server) ---------


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


@pytest.fixture
def private_postgres(tmp_path_factory):
    """A PostgreSQL cluster of this test's own on a free port, run as the `postgres` user when the tests
    run as root (PostgreSQL refuses root); (url, restart) where restart() stops and starts it again."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("initdb/pg_ctl not found")
    root = Path(tempfile.mkdtemp(prefix="slipstream_pg_"))
    data, port = root / "data", free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start a private PostgreSQL")
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=60)

    try:
        run(initdb, "-D", str(data), "-U", "postgres", "-A", "trust")
    except (OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"cannot create a private PostgreSQL cluster: {exc}")

    def start() -> None:
        run(pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "pg.log"), "-w", "start")

    def stop() -> None:
        run(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop")

    start()
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", stop, start
    finally:
        dispose_all()
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_restarted_mid_trigger_storm_loses_no_acknowledged_run(private_postgres, tmp_path):
    from slipstream.dag_processing import process_all
    from slipstream.storage.migrations.runner import upgrade

    url, stop, start = private_postgres
    settings = api_settings(tmp_path, database_url=url)
    settings.dags_folder.mkdir(parents=True)
    upgrade(url, default_pool_slots=settings.default_pool_slots)
    process_all(settings)
    client = create_app(settings).test_client()
    acknowledged: set[str] = set()
    statuses: dict[int, int] = {}
    stop_storm = threading.Event()
    failures: list[str] = []

    def storm(worker: int) -> None:
        number = worker * 100_000
        while not stop_storm.is_set():
            number += 1
            try:
                response = trigger(client, number)
            except Exception as exc:  # noqa: BLE001 - a crash in the app is a failure of the test
                failures.append(repr(exc))
                continue
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code == 200:
                acknowledged.add(f"outage_{number}")
            elif response.status_code == 503:
                assert_unavailable(response)
                time.sleep(0.05)
            else:
                failures.append(f"{response.status_code}: {response.text}")

    workers = [threading.Thread(target=storm, args=(n,)) for n in range(1, 4)]
    for thread in workers:
        thread.start()
    time.sleep(1.0)
    before_outage = len(acknowledged)
    stop()
    time.sleep(1.5)
    start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(acknowledged) < before_outage + 20:
        time.sleep(0.2)
    stop_storm.set()
    for thread in workers:
        thread.join(30)
    assert not failures, failures[:5]
    assert statuses.get(503, 0) > 0, f"the outage was never seen: {statuses}"
    assert len(acknowledged) >= before_outage + 20, f"no recovery after the restart: {statuses}"
    stored = stored_runs(url)
    assert acknowledged <= set(stored), sorted(acknowledged - set(stored))[:5]
    # Whole runs only: each stored run has every task instance of the DAG.
    assert len(set(stored.values())) == 1, stored

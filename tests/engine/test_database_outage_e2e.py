"""A lost database under load (issue 15): PostgreSQL gone mid-storm (a proxy between the engine and the
server, cut and restored) and SQLite on a full disk (a small tmpfs). A real `slipstream scheduler`
logs the outage once, waits with backoff and carries on by itself; the API answers 503 meanwhile; no
acknowledged run is lost, and every one of them runs to its end. The dag processor and the triggerer
wait it out too."""

from __future__ import annotations

import errno
import logging
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from slipstream.api.app import create_app
from slipstream.config import Settings
from slipstream.dag_processing.manager import DagFileProcessorThread
from slipstream.scheduler.triggerer import TriggererThread
from slipstream.storage.db import dispose_all, session_scope
from slipstream.storage.migrations.runner import upgrade
from slipstream.storage.models import DagModel, DagRun, Job
from tests.api.support import PROBLEM_JSON
from tests.engine.support import FAST_TIMERS, add_dag, wait_for, write_dag
from tests.live_server import SLIPSTREAM, Process, environment
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

DAG_ID = "outage_storm"
DAG_SOURCE = f"""
from datetime import UTC, datetime

from slipstream.sdk import DAG, BashOperator

with DAG("{DAG_ID}", schedule=None, start_date=datetime(2019, 1, 1, tzinfo=UTC), max_active_runs=32):
    BashOperator(task_id="noop", bash_command="true")
"""
RUNS = f"/api/experimental/dags/{DAG_ID}/dag_runs"
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)  # in the past: the runs start at once


class Storm:
    """Threads triggering runs through the API as fast as they can, counting its answers."""

    def __init__(self, client, workers: int = 3) -> None:
        self.client = client
        self.acknowledged: set[str] = set()
        self.statuses: dict[int, int] = {}
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._trigger, args=(n,)) for n in range(1, workers + 1)]

    def __enter__(self) -> Storm:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _trigger(self, worker: int) -> None:
        number = worker * 100_000
        while not self._stop.is_set():
            number += 1
            run_id = f"storm_{number}"
            body = {"run_id": run_id, "execution_date": (EPOCH + timedelta(seconds=number)).isoformat()}
            try:
                response = self.client.post(RUNS, json=body)
            except Exception as exc:  # noqa: BLE001 - a crash in the app fails the test
                self.failures.append(repr(exc))
                continue
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
            if response.status_code == 200:
                self.acknowledged.add(run_id)
            elif response.status_code == 503 and response.headers["content-type"] == PROBLEM_JSON:
                assert "metadata database" in response.json()["error"]
                time.sleep(0.05)
            else:
                self.failures.append(f"{response.status_code}: {response.text[:300]}")
            time.sleep(0.01)  # a storm, but one that leaves the 2 cores some room for the scheduler

    def wait_for_acknowledgements(self, count: int, timeout: float) -> None:
        target = len(self.acknowledged) + count
        wait_for(lambda: len(self.acknowledged) >= target, timeout, f"{count} more acknowledged triggers")


def run_states(database_url: str) -> dict[str, str]:
    with session_scope(database_url, write=False) as db:
        return dict(db.execute(select(DagRun.run_id, DagRun.state).where(DagRun.dag_id == DAG_ID)).all())


def assert_every_acknowledged_run_ends(database_url: str, storm: Storm, scheduler: Process) -> None:
    assert not storm.failures, storm.failures[:5]
    acknowledged = set(storm.acknowledged)

    def all_ended() -> bool:
        states = run_states(database_url)
        return all(states.get(run_id) in ("success", "failed") for run_id in acknowledged)

    wait_for(all_ended, 180, f"the {len(acknowledged)} acknowledged runs to end")
    states = run_states(database_url)
    assert acknowledged <= set(states), sorted(acknowledged - set(states))[:5]
    failed = sorted(run_id for run_id in acknowledged if states[run_id] != "success")
    assert not failed, f"{len(failed)} runs did not succeed: {failed[:5]}"
    assert scheduler.popen.poll() is None, "the scheduler exited:\n" + scheduler.output()[-3000:]


def assert_outage_logged_once(log: str, who: str) -> None:
    """Logged when it starts and when it ends, not at every retry (a busy spell under the storm may
    add one more outage of its own)."""
    assert 1 <= log.count(f"{who}: the metadata database cannot answer") <= 2, log[-3000:]
    assert f"{who}: the metadata database answers again" in log, log[-3000:]


def start_scheduler(settings: Settings, home: Path) -> Process:
    return Process([*SLIPSTREAM, "scheduler"], environment(settings, **FAST_TIMERS), home / "scheduler.log")


def api_client(settings: Settings):
    return create_app(settings.with_overrides(auth_backend="default")).test_client()


# -- PostgreSQL: the connection cut (refused) mid-storm, then restored ------------------------------------


@pytest.fixture
def postgres_settings(settings: Settings) -> Settings:
    if make_url(settings.database_url).get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL (SLIPSTREAM_TEST_BACKEND=postgres)")
    return settings


@pytest.fixture
def proxy(postgres_settings: Settings):
    url = make_url(postgres_settings.database_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as value:
        yield value
    dispose_all()


def test_the_scheduler_waits_out_a_lost_postgres_and_no_acknowledged_run_is_lost(postgres_settings, proxy):
    settings = postgres_settings
    add_dag(settings, DAG_ID, DAG_SOURCE)
    proxied = settings.with_overrides(database_url=proxy.route(settings.database_url))
    scheduler = start_scheduler(proxied, settings.home)
    try:
        with Storm(api_client(proxied)) as storm:
            storm.wait_for_acknowledgements(30, 60)
            wait_for(lambda: "success" in run_states(settings.database_url).values(), 60, "a first run to end")
            proxy.cut()
            wait_for(lambda: "cannot answer" in scheduler.output(), 30, "the scheduler to notice the outage")
            time.sleep(3)  # the scheduler keeps trying, with backoff, while the storm gets 503s
            assert scheduler.popen.poll() is None, scheduler.output()[-3000:]
            refused_while_cut = storm.statuses.get(503, 0)
            proxy.restore()
            storm.wait_for_acknowledgements(30, 60)
        assert refused_while_cut > 0, f"the API never saw the outage: {storm.statuses}"
        assert_every_acknowledged_run_ends(settings.database_url, storm, scheduler)
        assert_outage_logged_once(scheduler.output(), "Scheduler")
    finally:
        scheduler.stop(30)


def test_the_dag_processor_and_the_triggerer_wait_out_a_lost_postgres(postgres_settings, proxy, caplog):
    settings = postgres_settings
    proxied = settings.with_overrides(database_url=proxy.route(settings.database_url))
    write_dag(settings, DAG_ID, DAG_SOURCE)
    caplog.set_level(logging.INFO)
    processor = DagFileProcessorThread(proxied, interval=0.2)
    triggerer = TriggererThread(proxied)
    processor.start()
    triggerer.start()
    try:
        assert processor.wait_for_first_pass(60)
        job = wait_for(lambda: triggerer.job.job_id, 30, "the triggerer to register")
        proxy.cut()
        # A DAG file added while the database is gone is stored once it is back.
        write_dag(settings, "outage_later", DAG_SOURCE.replace(DAG_ID, "outage_later"))
        for who in ("DAG processor", "Triggerer"):
            wait_for(lambda who=who: f"{who}: the metadata database cannot answer" in caplog.text, 30, who)
        time.sleep(2)
        with session_scope(settings.database_url) as db:  # direct, not through the proxy
            db.execute(update(Job).where(Job.id == job).values(latest_heartbeat=EPOCH))
        proxy.restore()

        def stored_dag_ids() -> set[str]:
            with session_scope(settings.database_url, write=False) as db:
                return set(db.scalars(select(DagModel.dag_id)))

        wait_for(lambda: "outage_later" in stored_dag_ids(), 30, "the DAG file added during the outage")

        def heartbeat_after_outage() -> bool:
            with session_scope(settings.database_url, write=False) as db:
                beat = db.scalar(select(Job.latest_heartbeat).where(Job.id == job))
            return beat is not None and beat.replace(tzinfo=UTC) > EPOCH

        wait_for(heartbeat_after_outage, 30, "the triggerer's heartbeat after the outage")
        assert processor.is_alive() and triggerer.is_alive()
        for who in ("DAG processor", "Triggerer"):
            assert_outage_logged_once(caplog.text, who)
    finally:
        processor.stop(30)
        triggerer.stop(30)


# -- SQLite: the disk fills up mid-storm, then room is made again ------------------------------------------


@pytest.fixture
def small_disk(tmp_path, postgres_databases) -> Path:
    if postgres_databases is not None:
        pytest.skip("SQLite's disk")
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    try:
        # Roomy enough that the storm's WAL does not fill it before the test does.
        command = ["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(mount_point)]
        subprocess.run(command, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    yield mount_point
    dispose_all()
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path, name: str = "filler", size: int | None = None) -> Path:
    """Write `size` bytes, or up to the last byte the disk has. A storm on a slow machine may have
    filled it already (its WAL grows while readers hold back checkpoints): then nothing is written."""
    path = disk / name
    chunk = b"\0" * 65536
    try:
        with open(path, "wb") as handle:
            while size is None or handle.tell() < size:
                handle.write(chunk)
                handle.flush()
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
    return path


def test_the_scheduler_waits_out_a_full_disk_and_no_acknowledged_run_is_lost(small_disk, tmp_path):
    # Only the database is on the small disk; logs and DAG files are not.
    settings = Settings(
        home=tmp_path,
        database_url=f"sqlite:///{small_disk / 'slipstream.db'}",
        load_examples=False,
        dags_folder=tmp_path / "dags",
    )
    settings.dags_folder.mkdir()
    upgrade(settings.database_url, default_pool_slots=settings.default_pool_slots)
    add_dag(settings, DAG_ID, DAG_SOURCE)
    # Set aside first, so that freeing it makes room even if the storm itself filled the disk.
    ballast = fill(small_disk, "ballast", 64 * 1024 * 1024)
    scheduler = start_scheduler(settings, tmp_path)
    try:
        with Storm(api_client(settings)) as storm:
            storm.wait_for_acknowledgements(30, 60)
            wait_for(lambda: "success" in run_states(settings.database_url).values(), 60, "a first run to end")
            filler = fill(small_disk)
            wait_for(lambda: "its disk is full" in scheduler.output(), 60, "the scheduler to notice the full disk")
            wait_for(lambda: storm.statuses.get(503, 0) > 0, 60, "the API to answer 503")
            time.sleep(2)
            assert scheduler.popen.poll() is None, scheduler.output()[-3000:]
            filler.unlink(missing_ok=True)
            ballast.unlink()
            storm.wait_for_acknowledgements(30, 60)
        assert_every_acknowledged_run_ends(settings.database_url, storm, scheduler)
        assert_outage_logged_once(scheduler.output(), "Scheduler")
    finally:
        scheduler.stop(30)

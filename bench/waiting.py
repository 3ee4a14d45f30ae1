"""Waiting without holding slots (issue 13): reschedule-mode sensors and deferred tries, for real.

    python -m bench.waiting                  # 500 sensors, 1,000 deferred tries (SQLite, LocalExecutor)
    python -m bench.waiting --sensors 100 --deferred 200

1. `--sensors` reschedule-mode sensors wait at once (a poke that is never true, every 60 s) in a run of
   one DAG; meanwhile a one-task DAG is triggered again and again: trigger -> its task's start, with
   how many tries held a slot (queued or running) at that moment.
2. `--deferred` tasks defer for an hour each; one `slipstream triggerer` process holds them all:
   its resident memory once it runs every trigger.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select, update

from bench.engine import line, trigger
from slipstream.config import Settings
from slipstream.dag_processing import process_all
from slipstream.scheduler.loop import SchedulerThread
from slipstream.storage.db import session_scope
from slipstream.storage.migrations.runner import upgrade
from slipstream.storage.models import DagModel, DagRun, Job, TaskInstance, Trigger

SENSORS = """
import pendulum
from airflow import DAG
from airflow.sensors.python import PythonSensor

with DAG("bench_sensors", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    for i in range({count}):
        PythonSensor(task_id=f"sense_{{i}}", python_callable=lambda: False, mode="reschedule",
                     poke_interval=60, timeout=3600)
"""

NOOP = """
import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("bench_noop", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    BashOperator(task_id="noop", bash_command="true")
"""

DEFERRED = """
from datetime import timedelta

import pendulum
from airflow import DAG
from airflow.sensors.time_delta import TimeDeltaSensorAsync

with DAG("bench_deferred", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    for i in range({count}):
        TimeDeltaSensorAsync(task_id=f"defer_{{i}}", delta=timedelta(hours=1))
"""


def _count(settings: Settings, *where) -> int:
    with session_scope(settings.database_url, write=False) as db:
        return int(db.scalar(select(func.count()).select_from(TaskInstance).where(*where)) or 0)


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def _setup(name: str, sources: dict[str, str], parallelism: int) -> Settings:
    home = Path(tempfile.mkdtemp(prefix=f"slipstream-bench-{name}-"))
    settings = Settings(home=home, load_examples=False, dags_folder=home / "dags", parallelism=parallelism)
    settings.dags_folder.mkdir(parents=True)
    for file_name, source in sources.items():
        (settings.dags_folder / f"{file_name}.py").write_text(source)
    upgrade(settings.database_url, default_pool_slots=settings.default_pool_slots)
    report = process_all(settings)
    if report.import_errors:
        raise SystemExit(f"import errors: {report.import_errors}")
    return settings


def sensors_figures(count: int, parallelism: int, samples: int) -> None:
    settings = _setup("sensors", {"bench_sensors": SENSORS.format(count=count), "bench_noop": NOOP}, parallelism)
    scheduler = SchedulerThread(settings)
    scheduler.start()
    try:
        run_id = trigger(settings, "bench_sensors")
        mine = (TaskInstance.dag_id == "bench_sensors", TaskInstance.run_id == run_id)
        # Every sensor has poked once and waits for its next poke.
        _wait(
            lambda: (
                _count(settings, *mine, TaskInstance.try_number >= 1, TaskInstance.state == "up_for_reschedule")
                >= count
            ),
            600,
            f"{count} sensors to wait in up_for_reschedule",
        )
        latencies, holding = [], []
        for _ in range(samples):
            noop = trigger(settings, "bench_noop")
            where = (TaskInstance.dag_id == "bench_noop", TaskInstance.run_id == noop)
            _wait(lambda w=where: _count(settings, *w, TaskInstance.start_date.is_not(None)) == 1, 120, "the no-op")
            with session_scope(settings.database_url, write=False) as db:
                queued_at = db.scalar(
                    select(DagRun.queued_at).where(DagRun.dag_id == "bench_noop", DagRun.run_id == noop)
                )
                started = db.scalar(select(TaskInstance.start_date).where(*where))
            latencies.append((started - queued_at).total_seconds() * 1000)
            holding.append(_count(settings, *mine, TaskInstance.state.in_(["queued", "running"])))
            time.sleep(0.5)
        line(
            f"{count} reschedule sensors waiting: no-op trigger -> start, median",
            f"{statistics.median(latencies):.0f} ms",
            "< 100 ms",
        )
        line("  each sample", " / ".join(f"{v:.0f}" for v in latencies), "")
        line("  sensor tries holding a slot at those moments (max)", f"{max(holding)} of {count}", f"<= {parallelism}")
    finally:
        with session_scope(settings.database_url) as db:
            db.execute(update(DagModel).values(is_paused=True))
        scheduler.stop()


def _rss_mb(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    return float("nan")


def deferred_figures(count: int, parallelism: int) -> None:
    settings = _setup("deferred", {"bench_deferred": DEFERRED.format(count=count)}, parallelism)
    env = {
        "SLIPSTREAM_HOME": str(settings.home),
        "SLIPSTREAM_DATABASE_URL": settings.database_url,
        "SLIPSTREAM_DAGS_FOLDER": str(settings.dags_folder),
        "SLIPSTREAM_LOAD_EXAMPLES": "false",
    }
    triggerer = subprocess.Popen(
        [sys.executable, "-m", "slipstream.cli", "triggerer"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    scheduler = SchedulerThread(settings)
    scheduler.start()
    try:

        def registered() -> bool:
            with session_scope(settings.database_url, write=False) as db:
                return db.scalar(select(Job.id).where(Job.job_type == "TriggererJob")) is not None

        _wait(registered, 60, "the triggerer to start")
        time.sleep(1)
        idle_rss = _rss_mb(triggerer.pid)
        started = time.monotonic()
        trigger(settings, "bench_deferred")
        _wait(lambda: _count(settings, TaskInstance.state == "deferred") >= count, 1200, f"{count} deferred tries")
        deferring = time.monotonic() - started

        def all_claimed() -> bool:
            with session_scope(settings.database_url, write=False) as db:
                return (
                    db.scalar(select(func.count()).select_from(Trigger).where(Trigger.triggerer_id.is_not(None))) or 0
                ) >= count

        _wait(all_claimed, 120, "the triggerer to claim every trigger")
        time.sleep(2)
        line(f"{count} tasks trigger -> all deferred", f"{deferring:.1f} s", "")
        line("  triggerer resident memory, idle", f"{idle_rss:.0f} MB", "")
        line(f"  triggerer resident memory holding {count} triggers", f"{_rss_mb(triggerer.pid):.0f} MB", "< 200 MB")
    finally:
        with session_scope(settings.database_url) as db:
            db.execute(update(DagModel).values(is_paused=True))
        scheduler.stop()
        triggerer.terminate()
        triggerer.wait(30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sensors", type=int, default=500, help="reschedule-mode sensors waiting at once")
    parser.add_argument("--deferred", type=int, default=1000, help="deferred tries one triggerer holds")
    parser.add_argument("--parallelism", type=int, default=32, help="SLIPSTREAM_PARALLELISM (default 32)")
    parser.add_argument("--samples", type=int, default=10, help="no-op triggers while the sensors wait")
    logging.basicConfig(level=logging.WARNING)
    args = parser.parse_args(argv)
    print("Slipstream waiting benchmark: SQLite (WAL), LocalExecutor")
    print("results:")
    sensors_figures(args.sensors, args.parallelism, args.samples)
    deferred_figures(args.deferred, args.parallelism)


if __name__ == "__main__":
    main()

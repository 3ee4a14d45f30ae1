"""A database in which DAG runs really ran (the scheduler, task processes, log files), built once per
session and copied per test (or per module), for the task-instance and log endpoints.

The runs mirror the golden recording's: `golden_bash_1` of example_bash_operator at 2024-01-01 (its
this_will_skip task skips with exit code 99), `golden_mapping_1` of a mapped DAG (add_one over 3
values, then sum_it), `golden_taskflow_1` of example_taskflow, and `retry_1` of a DAG whose task
fails its first try and succeeds its second (so its first try is in task_instance_history).
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from slipstream.api.app import create_app
from slipstream.config import Settings
from slipstream.dag_processing import process_all
from slipstream.scheduler.loop import SchedulerThread
from slipstream.services.dag_runs import TriggerRequest, trigger_dag_run
from slipstream.storage.db import session_scope
from slipstream.storage.models import DagRun
from tests.api.support import api_settings, build_template_database, copy_database, drop_database
from tests.engine.support import wait_for, wait_for_run

V1 = "/api/v1"
LOGICAL_DATE = datetime(2024, 1, 1, tzinfo=UTC)

MAPPED_DAG = """
from datetime import datetime
from airflow.decorators import task
from airflow.models.dag import DAG

with DAG(dag_id="example_dynamic_task_mapping", schedule=None, start_date=datetime(2022, 3, 4)):
    @task
    def add_one(x: int):
        return x + 1

    @task
    def sum_it(values):
        total = sum(values)
        print(f"Total was {total}")
        return total

    sum_it(add_one.expand(x=[1, 2, 3]))
"""

RETRY_DAG = """
from datetime import datetime, timedelta
from airflow.decorators import task
from airflow.models.dag import DAG

with DAG(dag_id="retry_once", schedule=None, start_date=datetime(2024, 1, 1)):
    @task(retries=1, retry_delay=timedelta(seconds=0))
    def flaky(ti=None):
        if ti.try_number == 1:
            raise RuntimeError("first try fails on purpose")
        print("second try succeeds")

    flaky()
"""

RUNS = (
    ("example_bash_operator", "golden_bash_1"),
    ("example_dynamic_task_mapping", "golden_mapping_1"),
    ("example_taskflow", "golden_taskflow_1"),
    ("retry_once", "retry_1"),
)


def _unfinished_runs(settings: Settings) -> int:
    with session_scope(settings.database_url, write=False) as session:
        return session.scalar(select(func.count()).where(DagRun.state.in_(["queued", "running"]))) or 0


def _run_everything(settings: Settings) -> None:
    (settings.dags_folder / "example_dynamic_task_mapping.py").write_text(textwrap.dedent(MAPPED_DAG))
    (settings.dags_folder / "retry_once.py").write_text(textwrap.dedent(RETRY_DAG))
    report = process_all(settings)
    assert not report.import_errors, report.import_errors
    fast = settings.with_overrides(
        scheduler_loop_interval=0.02, task_heartbeat_interval=0.2, scheduler_heartbeat_interval=0.5, parallelism=8
    )
    with session_scope(settings.database_url) as session:
        for dag_id, run_id in RUNS:
            trigger_dag_run(
                session,
                dag_id,
                TriggerRequest(run_id=run_id, conf={}, execution_date=LOGICAL_DATE, replace_microseconds=False),
            )
    scheduler = SchedulerThread(fast)
    scheduler.start()
    try:
        for dag_id, run_id in RUNS:
            wait_for_run(fast, dag_id, run_id, timeout=120)
        # Unpaused and @daily, example_bash_operator got a scheduled run too (as in Airflow's recording):
        # it finishes before the scheduler stops, so that no copy holds a half-run try.
        wait_for(lambda: not _unfinished_runs(fast), timeout=120, message="every run to finish")
    finally:
        scheduler.stop(timeout=30)


@pytest.fixture(scope="session")
def ran_template(tmp_path_factory, postgres_databases) -> tuple[str, Path]:
    """The template database's URL and its home (whose logs/ holds the tries' log files)."""
    home = tmp_path_factory.mktemp("ran_dags_template")
    return build_template_database(home, postgres_databases, prepare=_run_everything), home


def copy_ran(ran_template, home: Path, postgres_databases) -> Settings:
    """Settings on a copy of the ran database, with a copy of its log files."""
    template_url, template_home = ran_template
    url = copy_database(template_url, home, postgres_databases)
    settings = api_settings(home, database_url=url)
    settings.dags_folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(template_home / "logs", settings.logs_folder, dirs_exist_ok=True)
    return settings


@pytest.fixture
def ran_settings(ran_template, postgres_databases, tmp_path) -> Iterator[Settings]:
    settings = copy_ran(ran_template, tmp_path, postgres_databases)
    yield settings
    drop_database(settings.database_url, postgres_databases)


@pytest.fixture
def ran(ran_settings):
    """Connexion's test client on this test's copy of the ran database (responses validated too)."""
    return create_app(ran_settings, validate_responses=True).test_client()

"""Scheduled runs: a @daily DAG a few days old, with and without catchup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slipstream.storage.db import session_scope
from slipstream.storage.models import DagModel
from tests.engine.support import add_dag, read_runs, wait_for, wait_for_run

DAILY_DAG = """
from datetime import UTC, datetime

from slipstream.sdk import DAG, EmptyOperator

with DAG("{dag_id}", schedule="@daily", start_date=datetime.fromisoformat("{start}"), catchup={catchup}) as dag:
    EmptyOperator(task_id="noop")
"""


def daily_dag(dag_id: str, start: datetime, *, catchup: bool) -> str:
    return DAILY_DAG.format(dag_id=dag_id, start=start.isoformat(), catchup=catchup)


def today() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def scheduled_ids(settings, dag_id: str) -> list[str]:
    return [r.run_id for r in read_runs(settings, dag_id)]


def next_dagrun(settings, dag_id: str) -> tuple[datetime | None, datetime | None]:
    with session_scope(settings.database_url, write=False) as db:
        dag = db.get(DagModel, dag_id)
        return dag.next_dagrun, dag.next_dagrun_create_after


def run_id_for(day: datetime) -> str:
    return f"scheduled__{day.isoformat()}"


def test_catchup_creates_every_missed_interval(engine_settings, scheduler):
    start = today() - timedelta(days=3)
    add_dag(
        engine_settings,
        "daily_catchup",
        DAILY_DAG.format(dag_id="daily_catchup", start=start.isoformat(), catchup=True),
    )
    expected = [run_id_for(start + timedelta(days=i)) for i in range(3)]
    wait_for(lambda: scheduled_ids(engine_settings, "daily_catchup") == expected, 15, "three scheduled runs")
    for run_id in expected:
        assert wait_for_run(engine_settings, "daily_catchup", run_id) == "success"
    run = read_runs(engine_settings, "daily_catchup")[0]
    assert (run.run_type, run.external_trigger) == ("scheduled", False)
    assert (run.data_interval_start, run.data_interval_end) == (start, start + timedelta(days=1))
    # The next run is today's interval, created when it ends; nothing more before that.
    assert next_dagrun(engine_settings, "daily_catchup") == (today(), today() + timedelta(days=1))
    seen = scheduler.job.stats.iterations
    wait_for(lambda: scheduler.job.stats.iterations >= seen + 20, 10, "20 scheduler loops")
    assert scheduled_ids(engine_settings, "daily_catchup") == expected


def test_without_catchup_only_the_latest_interval_runs(engine_settings, scheduler):
    start = today() - timedelta(days=3)
    add_dag(
        engine_settings, "daily_latest", DAILY_DAG.format(dag_id="daily_latest", start=start.isoformat(), catchup=False)
    )
    expected = [run_id_for(today() - timedelta(days=1))]
    wait_for(lambda: scheduled_ids(engine_settings, "daily_latest") == expected, 15, "the latest scheduled run")
    assert wait_for_run(engine_settings, "daily_latest", expected[0]) == "success"
    seen = scheduler.job.stats.iterations
    wait_for(lambda: scheduler.job.stats.iterations >= seen + 20, 10, "20 scheduler loops")
    assert scheduled_ids(engine_settings, "daily_latest") == expected
    assert next_dagrun(engine_settings, "daily_latest") == (today(), today() + timedelta(days=1))

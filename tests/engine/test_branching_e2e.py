"""Branching and skipping on the real engine: groups as branch targets, the day-of-week and latest-only
branchers, short-circuiting everything below, and a retry that starts without its old XComs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from slipstream.storage.db import session_scope
from slipstream.storage.models import DagRun, TaskInstance
from tests.engine.support import add_dag, read_log, ti_states, trigger, wait_for, wait_for_run

GROUP_BRANCH_DAG = """
import pendulum
from airflow import DAG
from airflow.decorators import task, task_group
from airflow.operators.empty import EmptyOperator
from airflow.operators.weekday import BranchDayOfWeekOperator
from airflow.operators.python import ShortCircuitOperator
from airflow.utils.weekday import WeekDay

with DAG("group_branch", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:

    @task.branch
    def pick():
        return "chosen"

    @task_group
    def chosen():
        @task
        def inner(value):
            return value * 2

        inner(inner(1))

    @task_group
    def ignored():
        EmptyOperator(task_id="never")

    pick() >> [chosen(), ignored()]

    weekday = BranchDayOfWeekOperator(
        task_id="weekday",
        week_day={WeekDay.SATURDAY, WeekDay.SUNDAY},
        use_task_logical_date=True,
        follow_task_ids_if_true="weekend",
        follow_task_ids_if_false="workday",
    )
    weekday >> [EmptyOperator(task_id="weekend"), EmptyOperator(task_id="workday")]

    gate = ShortCircuitOperator(task_id="gate", python_callable=lambda: 0)
    gate >> EmptyOperator(task_id="below") >> EmptyOperator(task_id="far_below", trigger_rule="all_done")
"""


def test_branch_to_a_group_runs_its_tasks_and_skips_the_rest(engine_settings, scheduler):
    add_dag(engine_settings, "group_branch", GROUP_BRANCH_DAG)
    saturday = datetime(2024, 6, 1, 12, tzinfo=UTC)
    run_id = trigger(engine_settings, "group_branch", execution_date=saturday)
    assert wait_for_run(engine_settings, "group_branch", run_id, timeout=60) == "success"
    assert ti_states(engine_settings, "group_branch", run_id) == {
        "pick": "success",
        "chosen.inner": "success",
        "chosen.inner__1": "success",
        "ignored.never": "skipped",
        "weekday": "success",
        "weekend": "success",
        "workday": "skipped",
        "gate": "success",
        "below": "skipped",
        "far_below": "skipped",  # ignore_downstream_trigger_rules (default True) skips everything below
    }


def test_cleared_tasks_a_brancher_did_not_follow_are_skipped_again(engine_settings, scheduler):
    """Airflow's NotPreviouslySkippedDep: clearing what a finished brancher or short-circuit skipped
    does not run it; the scheduler reads their skipmixin_key XCom and skips it again."""
    add_dag(engine_settings, "group_branch", GROUP_BRANCH_DAG)
    saturday = datetime(2024, 6, 1, 12, tzinfo=UTC)
    run_id = trigger(engine_settings, "group_branch", execution_date=saturday)
    assert wait_for_run(engine_settings, "group_branch", run_id, timeout=60) == "success"
    cleared = ["ignored.never", "workday", "below", "weekend"]
    with session_scope(engine_settings.database_url) as db:  # what clearing these task instances does
        db.execute(
            update(TaskInstance)
            .where(TaskInstance.dag_id == "group_branch", TaskInstance.run_id == run_id)
            .where(TaskInstance.task_id.in_(cleared))
            .values(state=None, max_tries=TaskInstance.try_number)
        )
        db.execute(
            update(DagRun)
            .where(DagRun.dag_id == "group_branch", DagRun.run_id == run_id)
            .values(state="queued", end_date=None)
        )
    assert wait_for_run(engine_settings, "group_branch", run_id, timeout=60) == "success"
    states = wait_for(lambda: (s := ti_states(engine_settings, "group_branch", run_id)) and s, message="states")
    assert {task_id: states[task_id] for task_id in cleared} == {
        "ignored.never": "skipped",
        "workday": "skipped",
        "below": "skipped",
        "weekend": "success",  # followed: it runs again
    }


RETRY_DAG = """
import pendulum
from datetime import timedelta
from airflow import DAG
from airflow.operators.python import PythonOperator
from airflow.operators.bash import BashOperator

def flaky(ti):
    seen = ti.xcom_pull(task_ids="flaky", key="attempt")
    print(f"XCom from the failed try: {seen}")
    ti.xcom_push(key="attempt", value=ti.try_number)
    if ti.try_number == 1:
        raise ValueError("first try fails")
    return "done"

with DAG("xcom_retry", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    producers = [PythonOperator(task_id=f"p{i}", python_callable=lambda i=i: i) for i in range(2)]
    show = BashOperator(task_id="show", bash_command="echo '{{ ti.xcom_pull(task_ids=[\'p0\', \'p1\']) }}'")
    producers >> show
    PythonOperator(task_id="flaky", python_callable=flaky, retries=1, retry_delay=timedelta(seconds=0))
"""


def test_a_retry_starts_without_the_failed_tries_xcoms(engine_settings, scheduler):
    add_dag(engine_settings, "xcom_retry", RETRY_DAG)
    run_id = trigger(engine_settings, "xcom_retry")
    assert wait_for_run(engine_settings, "xcom_retry", run_id, timeout=60) == "success"
    assert "XCom from the failed try: None" in read_log(engine_settings, "xcom_retry", run_id, "flaky", 2)
    # A list pull renders as Airflow's lazy sequence does (apache/airflow#41983).
    assert "LazySelectSequence([2 items])" in read_log(engine_settings, "xcom_retry", run_id, "show")


LATEST_ONLY_DAG = """
import pendulum
from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.operators.latest_only import LatestOnlyOperator

with DAG("latest_only", schedule="@daily", start_date=pendulum.today("UTC").add(days=-3), catchup=True) as dag:
    LatestOnlyOperator(task_id="latest_only") >> EmptyOperator(task_id="after")
"""


def test_latest_only_skips_catch_up_runs_and_lets_the_latest_and_manual_runs_through(engine_settings, scheduler):
    from tests.engine.support import read_runs, wait_for

    add_dag(engine_settings, "latest_only", LATEST_ONLY_DAG)
    runs = wait_for(lambda: (r := read_runs(engine_settings, "latest_only")) and len(r) >= 3 and r, timeout=30)
    after = []
    for run in runs:
        assert wait_for_run(engine_settings, "latest_only", run.run_id, timeout=60) == "success"
        after.append(ti_states(engine_settings, "latest_only", run.run_id)["after"])
    assert after == ["skipped", "skipped", "success"]
    manual = trigger(engine_settings, "latest_only", execution_date=runs[0].execution_date.replace(hour=12))
    assert wait_for_run(engine_settings, "latest_only", manual, timeout=60) == "success"
    assert ti_states(engine_settings, "latest_only", manual)["after"] == "success"

"""Retries, execution_timeout and dagrun_timeout on real runs."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from slipstream.api.app import create_app
from tests.engine.support import add_dag, read_log, run_state, task_instances, trigger, wait_for, wait_for_run

RETRIES_DAG = """
from datetime import UTC, datetime, timedelta

from slipstream.sdk import DAG, BashOperator, PythonOperator
from slipstream.sdk.exceptions import AirflowFailException

def give_up():
    raise AirflowFailException("no point retrying")

with DAG("retries", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
    BashOperator(
        task_id="flaky",
        bash_command='[ "$AIRFLOW_CTX_TRY_NUMBER" = "1" ] && exit 1; echo "recovered on $SLIPSTREAM_CTX_TRY_NUMBER"',
        retries=1,
        retry_delay=timedelta(seconds=0.1),
    )
    BashOperator(task_id="doomed", bash_command="exit 3", retries=2, retry_delay=timedelta(seconds=0.1))
    PythonOperator(task_id="fail_fast", python_callable=give_up, retries=3, retry_delay=timedelta(seconds=0.1))
"""

TIMEOUT_DAG = """
from datetime import UTC, datetime, timedelta

from slipstream.sdk import DAG, BashOperator

with DAG("timeouts", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
    BashOperator(task_id="slow", bash_command="sleep 30", execution_timeout=timedelta(seconds=1))
    BashOperator(
        task_id="slow_once",
        bash_command='if [ "$AIRFLOW_CTX_TRY_NUMBER" = "1" ]; then sleep 30; fi',
        execution_timeout=timedelta(seconds=1),
        retries=1,
        retry_delay=timedelta(seconds=0.1),
    )
"""

DAGRUN_TIMEOUT_DAG = """
from datetime import UTC, datetime, timedelta

from slipstream.sdk import DAG, BashOperator

START = datetime(2024, 1, 1, tzinfo=UTC)

with DAG("run_timeout", schedule=None, start_date=START, dagrun_timeout=timedelta(seconds=1.5)) as dag:
    BashOperator(task_id="forever", bash_command="sleep 60") >> BashOperator(task_id="never", bash_command="true")
"""


def test_retries_then_success_or_failure(engine_settings, scheduler):
    add_dag(engine_settings, "retries", RETRIES_DAG)
    run_id = trigger(engine_settings, "retries")
    assert wait_for_run(engine_settings, "retries", run_id) == "failed"
    tis = task_instances(engine_settings, "retries", run_id)

    flaky = tis["flaky"]
    assert (flaky.state, flaky.try_number, flaky.max_tries) == ("success", 2, 1)
    assert "Marking task as UP_FOR_RETRY" in read_log(engine_settings, "retries", run_id, "flaky", 1)
    assert "recovered on 2" in read_log(engine_settings, "retries", run_id, "flaky", 2)

    doomed = tis["doomed"]
    assert (doomed.state, doomed.try_number) == ("failed", 3)
    for try_number in (1, 2):
        assert "Marking task as UP_FOR_RETRY" in read_log(engine_settings, "retries", run_id, "doomed", try_number)
    last = read_log(engine_settings, "retries", run_id, "doomed", 3)
    assert "non-zero exit code 3" in last and "Marking task as FAILED" in last

    # AirflowFailException fails at once, whatever retries says.
    assert (tis["fail_fast"].state, tis["fail_fast"].try_number) == ("failed", 1)

    # Airflow's event log: `running` as each try starts, `failed` as it fails (retried or not), owned by
    # the task's owner and dated with the run's logical date.
    api = create_app(engine_settings.with_overrides(auth_backend="default")).test_client()
    listed = api.get(f"/api/v1/eventLogs?dag_id=retries&run_id={quote(run_id, safe='')}&limit=100").json()
    events = [(e["task_id"], e["event"], e["try_number"]) for e in listed["event_logs"]]
    assert [(event, n) for task_id, event, n in events if task_id == "doomed"] == [
        ("running", 1), ("failed", 1), ("running", 2), ("failed", 2), ("running", 3), ("failed", 3)
    ]  # fmt: skip
    assert [(event, n) for task_id, event, n in events if task_id == "flaky"] == [
        ("running", 1), ("failed", 1), ("running", 2)
    ]  # fmt: skip
    assert {(e["owner"], e["execution_date"]) for e in listed["event_logs"]} == {
        ("airflow", api.get(f"/api/v1/dags/retries/dagRuns/{quote(run_id, safe='')}").json()["execution_date"])
    }


def test_execution_timeout_kills_the_task_and_may_retry(engine_settings, scheduler):
    add_dag(engine_settings, "timeouts", TIMEOUT_DAG)
    run_id = trigger(engine_settings, "timeouts")
    assert wait_for_run(engine_settings, "timeouts", run_id) == "failed"
    tis = task_instances(engine_settings, "timeouts", run_id)
    assert (tis["slow"].state, tis["slow"].try_number) == ("failed", 1)
    assert tis["slow"].duration < 10
    assert "AirflowTaskTimeout" in read_log(engine_settings, "timeouts", run_id, "slow", 1)
    assert (tis["slow_once"].state, tis["slow_once"].try_number) == ("success", 2)


def test_dagrun_timeout_fails_the_run_and_skips_what_is_left(engine_settings, scheduler):
    add_dag(engine_settings, "run_timeout", DAGRUN_TIMEOUT_DAG)
    run_id = trigger(engine_settings, "run_timeout")
    assert wait_for_run(engine_settings, "run_timeout", run_id) == "failed"
    tis = task_instances(engine_settings, "run_timeout", run_id)
    assert (tis["forever"].state, tis["never"].state) == ("skipped", "skipped")
    # The running try notices (heartbeat) and terminates itself.
    wait_for(
        lambda: "externally set to skipped" in read_log(engine_settings, "run_timeout", run_id, "forever"),
        30,
        "the running task to notice the timeout",
    )


DEPENDS_ON_PAST_DAG = """
from datetime import UTC, datetime

from slipstream.sdk import DAG, BashOperator

with DAG("past", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
    BashOperator(task_id="step", bash_command='[ "{{ ds }}" != "2024-01-01" ]', depends_on_past=True)
"""


def test_depends_on_past_waits_for_the_previous_run(engine_settings, scheduler):
    add_dag(engine_settings, "past", DEPENDS_ON_PAST_DAG)
    first = trigger(engine_settings, "past", execution_date=datetime(2024, 1, 1, tzinfo=UTC))
    assert wait_for_run(engine_settings, "past", first) == "failed"
    second = trigger(engine_settings, "past", execution_date=datetime(2024, 1, 2, tzinfo=UTC))
    seen = scheduler.job.stats.iterations
    wait_for(lambda: scheduler.job.stats.iterations >= seen + 30, 10, "30 scheduler loops")
    # The previous run's instance failed: this one may not start (and that is no deadlock).
    assert task_instances(engine_settings, "past", second)["step"].state is None
    assert run_state(engine_settings, "past", second) == "running"

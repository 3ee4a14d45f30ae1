"""Airflow-style DAG files (`from airflow ...`) with TaskFlow, XCom and branching, run on the real engine."""

from __future__ import annotations

import json

from sqlalchemy import select

from slipstream.storage.db import session_scope
from slipstream.storage.models import XCom
from tests.engine.support import add_dag, read_log, ti_states, trigger, wait_for_run

TASKFLOW_DAG = """
import pendulum
from airflow.decorators import dag, task
from airflow.operators.bash import BashOperator


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def taskflow_etl(multiplier: int = 3):
    '''Extract, transform, load.'''

    @task()
    def extract():
        return {"a": 1, "b": 2}

    @task(multiple_outputs=True)
    def transform(data: dict, multiplier, ti=None):
        ti.xcom_push(key="seen", value=sorted(data))
        return {"total": sum(data.values()) * multiplier, "count": len(data)}

    @task
    def load(total, count, ds=None):
        return f"{total}/{count} on {ds}"

    summary = transform(extract(), multiplier)
    loaded = load(summary["total"], summary["count"])
    echo = BashOperator(task_id="echo", bash_command="echo {{ ti.xcom_pull(task_ids='load') }}; echo last-line")
    loaded >> echo

    @task.bash
    def shout(value):
        return f"echo {value} {{{{ ds }}}}"

    shout(echo.output)

    @task
    def reuse():
        return 1

    reuse()
    reuse.override(task_id="custom")()
    reuse()


taskflow_etl()
"""


def _xcoms(settings, dag_id, run_id):
    with session_scope(settings.database_url, write=False) as db:
        rows = db.execute(
            select(XCom.task_id, XCom.key, XCom.value).where(XCom.dag_id == dag_id, XCom.run_id == run_id)
        )
        return {(r.task_id, r.key): json.loads(r.value) for r in rows}


def test_taskflow_passes_values_between_tasks(engine_settings, scheduler):
    add_dag(engine_settings, "taskflow_etl", TASKFLOW_DAG)
    run_id = trigger(engine_settings, "taskflow_etl", conf={"multiplier": 10})
    assert wait_for_run(engine_settings, "taskflow_etl", run_id, timeout=60) == "success"
    assert_taskflow_run(engine_settings, run_id)


def assert_taskflow_run(engine_settings, run_id):
    assert set(ti_states(engine_settings, "taskflow_etl", run_id).values()) == {"success"}
    assert set(ti_states(engine_settings, "taskflow_etl", run_id)) == {
        "extract",
        "transform",
        "load",
        "echo",
        "shout",
        "reuse",
        "custom",
        "reuse__1",
    }
    xcoms = _xcoms(engine_settings, "taskflow_etl", run_id)
    assert xcoms[("extract", "return_value")] == {"a": 1, "b": 2}
    # multiple_outputs: one row per key plus the whole dict
    assert xcoms[("transform", "total")] == 30
    assert xcoms[("transform", "count")] == 2
    assert xcoms[("transform", "return_value")] == {"total": 30, "count": 2}
    assert xcoms[("transform", "seen")] == ["a", "b"]
    ds = run_id.split("__")[1][:10]
    assert xcoms[("load", "return_value")] == f"30/2 on {ds}"
    assert xcoms[("echo", "return_value")] == "last-line"
    assert f"30/2 on {ds}" in read_log(engine_settings, "taskflow_etl", run_id, "echo")
    assert xcoms[("shout", "return_value")] == f"last-line {ds}"


BRANCH_DAG = """
import pendulum
from airflow import DAG
from airflow.decorators import task
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import BranchPythonOperator, ShortCircuitOperator
from airflow.utils.trigger_rule import TriggerRule

with DAG("branching", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    pick = BranchPythonOperator(task_id="pick", python_callable=lambda: "{choice}")
    left = EmptyOperator(task_id="left")
    right = EmptyOperator(task_id="right")
    after_right = EmptyOperator(task_id="after_right")
    join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    pick >> [left, right]
    right >> after_right
    [left, after_right] >> join

    gate = ShortCircuitOperator(task_id="gate", python_callable=lambda: False, ignore_downstream_trigger_rules=False)
    child = EmptyOperator(task_id="child")
    grandchild = EmptyOperator(task_id="grandchild", trigger_rule=TriggerRule.ALL_DONE)
    gate >> child >> grandchild

    @task.branch
    def choose():
        return None

    nothing = EmptyOperator(task_id="nothing")
    choose() >> nothing
"""


def test_branching_skips_what_is_not_followed(engine_settings, scheduler):
    add_dag(engine_settings, "branching", BRANCH_DAG.replace("{choice}", "left"))
    run_id = trigger(engine_settings, "branching")
    assert wait_for_run(engine_settings, "branching", run_id, timeout=60) == "success"
    assert ti_states(engine_settings, "branching", run_id) == {
        "pick": "success",
        "left": "success",
        "right": "skipped",
        "after_right": "skipped",
        "join": "success",
        "gate": "success",
        "child": "skipped",
        "grandchild": "success",
        "choose": "success",
        "nothing": "skipped",
    }
    xcoms = _xcoms(engine_settings, "branching", run_id)
    assert xcoms[("pick", "return_value")] == "left"
    assert xcoms[("pick", "skipmixin_key")] == {"followed": ["left"]}
    assert xcoms[("gate", "return_value")] is False


CALLBACK_DAG = """
import pendulum
from datetime import timedelta
from airflow import DAG
from airflow.exceptions import AirflowSkipException
from airflow.operators.python import PythonOperator

OUT = {out!r}

def note(name):
    def callback(context):
        with open(OUT + "/" + name + "-" + context["ti"].task_id + "-" + str(context["ti"].try_number), "w") as f:
            f.write(repr(context.get("exception")))
    return callback

def broken(context):
    raise RuntimeError("callback broke")

def fail():
    raise ValueError("boom")

def skip():
    raise AirflowSkipException("not today")

with DAG("callbacks", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    PythonOperator(task_id="ok", python_callable=lambda: 1, on_success_callback=[broken, note("success")],
                   on_execute_callback=note("execute"))
    PythonOperator(task_id="bad", python_callable=fail, retries=1, retry_delay=timedelta(seconds=0),
                   on_retry_callback=note("retry"), on_failure_callback=note("failure"))
    PythonOperator(task_id="skip", python_callable=skip, on_skipped_callback=note("skipped"))
"""


def test_task_callbacks_run_and_never_change_a_state(engine_settings, scheduler, tmp_path):
    out = tmp_path / "callbacks"
    out.mkdir()
    add_dag(engine_settings, "callbacks", CALLBACK_DAG.format(out=str(out)))
    run_id = trigger(engine_settings, "callbacks")
    assert wait_for_run(engine_settings, "callbacks", run_id, timeout=60) == "failed"
    assert ti_states(engine_settings, "callbacks", run_id) == {"ok": "success", "bad": "failed", "skip": "skipped"}
    made = sorted(p.name for p in out.iterdir())
    assert made == ["execute-ok-1", "failure-bad-2", "retry-bad-1", "skipped-skip-1", "success-ok-1"]
    assert "boom" in (out / "failure-bad-2").read_text()
    assert "Error in callback at index 0: broken" in read_log(engine_settings, "callbacks", run_id, "ok")


BAD_XCOM_DAG = """
import pendulum
from airflow import DAG
from airflow.operators.python import PythonOperator

with DAG("bad_xcom", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    PythonOperator(task_id="returns_bytes", python_callable=lambda: b"raw")
    PythonOperator(task_id="too_big", python_callable=lambda: "x" * 5000)
"""


def test_values_that_cannot_be_stored_fail_the_try(engine_settings, scheduler):
    settings = engine_settings.with_overrides(max_xcom_bytes=4096)
    scheduler.stop(timeout=30)
    from slipstream.scheduler.loop import SchedulerThread

    thread = SchedulerThread(settings)
    thread.start()
    try:
        add_dag(settings, "bad_xcom", BAD_XCOM_DAG)
        run_id = trigger(settings, "bad_xcom")
        assert wait_for_run(settings, "bad_xcom", run_id, timeout=60) == "failed"
        assert ti_states(settings, "bad_xcom", run_id) == {"returns_bytes": "failed", "too_big": "failed"}
        log = read_log(settings, "bad_xcom", run_id, "returns_bytes")
        assert "Object of type bytes is not JSON serializable" in log and "'return_value'" in log
        assert "over the limit of 4096 bytes" in read_log(settings, "bad_xcom", run_id, "too_big")
    finally:
        thread.stop(timeout=30)


DAG_CALLBACK_DAG = """
import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator

OUT = {out!r}

def record(context):
    with open(OUT + "/" + context["dag_run"].run_id.split("__")[0] + "-" + context["reason"], "w") as f:
        f.write(context["ti"].task_id + " " + context["dag_run"].state)

def broken(context):
    raise RuntimeError("dag callback broke")

with DAG("{dag_id}", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         on_success_callback=[broken, record], on_failure_callback=record) as dag:
    BashOperator(task_id="first", bash_command="exit {code}") >> BashOperator(task_id="last", bash_command="true")
"""


def test_dag_callbacks_run_after_the_run_ends(engine_settings, scheduler, tmp_path):
    out = tmp_path / "dag_callbacks"
    out.mkdir()
    add_dag(engine_settings, "cb_ok", DAG_CALLBACK_DAG.format(out=str(out), dag_id="cb_ok", code=0))
    add_dag(engine_settings, "cb_bad", DAG_CALLBACK_DAG.format(out=str(out), dag_id="cb_bad", code=1))
    ok_run = trigger(engine_settings, "cb_ok")
    bad_run = trigger(engine_settings, "cb_bad")
    assert wait_for_run(engine_settings, "cb_ok", ok_run, timeout=60) == "success"
    assert wait_for_run(engine_settings, "cb_bad", bad_run, timeout=60) == "failed"
    from tests.engine.support import wait_for

    wait_for(lambda: len(list(out.iterdir())) == 2, timeout=30, message="both DAG callbacks")
    assert (out / "manual-success").read_text() == "last success"
    assert (out / "manual-task_failure").read_text().endswith(" failed")
    log = (engine_settings.logs_folder / "dag_callbacks" / "cb_ok" / f"{ok_run}.log").read_text()
    assert "dag callback broke" in log and "Error in callback at index 0: broken" in log
    assert ti_states(engine_settings, "cb_ok", ok_run) == {"first": "success", "last": "success"}

"""TriggerDagRunOperator on real runs (task-model-semantics §14): it starts runs through the API's
service, waits for them (poking or deferred), and handles a run that already exists as asked."""

from __future__ import annotations

from sqlalchemy import select

from slipstream.scheduler.triggerer import TriggererThread
from slipstream.storage.db import session_scope
from slipstream.storage.models import XCom
from tests.engine.support import add_dag, read_log, read_runs, task_instances, ti_states, trigger, wait_for_run

TARGET_DAG = """
import pendulum
from airflow import DAG
from airflow.operators.python import PythonOperator


def work(dag_run=None):
    if dag_run.conf.get("fail"):
        raise ValueError("asked to fail")
    return dag_run.conf.get("message")


with DAG("target", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    PythonOperator(task_id="work", python_callable=work)
"""

CONTROLLER_DAG = """
import pendulum
from airflow import DAG
from airflow.operators.trigger_dagrun import TriggerDagRunOperator

with DAG("controller", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    TriggerDagRunOperator(
        task_id="wait_ok", trigger_dag_id="target", conf={"message": "hello"}, wait_for_completion=True,
        poke_interval=0.3,
    )
    TriggerDagRunOperator(
        task_id="wait_bad", trigger_dag_id="target", conf={"fail": True}, wait_for_completion=True,
        poke_interval=0.3,
    )
    TriggerDagRunOperator(
        task_id="deferred_wait", trigger_dag_id="target", conf={"message": "later"}, wait_for_completion=True,
        poke_interval=0.3, deferrable=True,
    )
    fixed = TriggerDagRunOperator(
        task_id="fixed", trigger_dag_id="target", trigger_run_id="fixed_{{ run_id }}", wait_for_completion=True,
        poke_interval=0.3,
    )
    again = TriggerDagRunOperator(task_id="again", trigger_dag_id="target", trigger_run_id="fixed_{{ run_id }}")
    skip = TriggerDagRunOperator(
        task_id="skip", trigger_dag_id="target", trigger_run_id="fixed_{{ run_id }}", skip_when_already_exists=True
    )
    reset = TriggerDagRunOperator(
        task_id="reset", trigger_dag_id="target", trigger_run_id="fixed_{{ run_id }}", reset_dag_run=True,
        wait_for_completion=True, poke_interval=0.3,
    )
    fixed >> [again, skip]
    again >> reset
    reset.trigger_rule = "all_done"
"""


def test_trigger_dagrun_operator_waits_for_its_targets(engine_settings, scheduler):
    add_dag(engine_settings, "target", TARGET_DAG)
    add_dag(engine_settings, "controller", CONTROLLER_DAG)
    triggerer = TriggererThread(engine_settings, interval=0.2)
    triggerer.start()
    try:
        run_id = trigger(engine_settings, "controller")
        assert wait_for_run(engine_settings, "controller", run_id, timeout=90) == "failed"
    finally:
        triggerer.stop()
    assert ti_states(engine_settings, "controller", run_id) == {
        "wait_ok": "success",
        "wait_bad": "failed",
        "deferred_wait": "success",
        "fixed": "success",
        "again": "failed",
        "skip": "skipped",
        "reset": "success",
    }
    assert "target failed with failed states failed" in read_log(engine_settings, "controller", run_id, "wait_bad")
    assert "A DAG Run already exists for DAG target" in read_log(engine_settings, "controller", run_id, "again")
    assert "Skipping due to skip_when_already_exists is set to True and DagRunAlreadyExists" in read_log(
        engine_settings, "controller", run_id, "skip"
    )
    runs = {run.run_id: run for run in read_runs(engine_settings, "target")}
    assert len(runs) == 4  # wait_ok, wait_bad, deferred_wait and the fixed one (reset, not created again)
    fixed = runs[f"fixed_{run_id}"]
    assert fixed.state == "success" and fixed.run_type == "manual" and fixed.external_trigger
    # reset_dag_run ran the same run again: its task has a second try.
    assert task_instances(engine_settings, "target", fixed.run_id)["work"].try_number == 2
    auto = [run for run in runs.values() if run.run_id.startswith("manual__")]
    assert all("." in run.run_id for run in auto)  # the default logical date keeps its microseconds
    assert {run.conf.get("message") for run in auto} >= {"hello", "later"}
    with session_scope(engine_settings.database_url, write=False) as db:
        pushed = dict(
            db.execute(
                select(XCom.key, XCom.value).where(
                    XCom.dag_id == "controller", XCom.run_id == run_id, XCom.task_id == "wait_ok"
                )
            ).all()
        )
    assert set(pushed) >= {"trigger_logical_date_iso", "trigger_run_id"}
    assert f'"{runs_by_message(runs)["hello"]}"' == pushed["trigger_run_id"]


def runs_by_message(runs) -> dict:
    return {run.conf.get("message"): run.run_id for run in runs.values()}

"""Params on real runs of an Airflow-style DAG file: DAG < task params < conf reach templates and the
context, a merged value that breaks its Param fails the try before execute, and the setting that stops
conf overriding params."""

from __future__ import annotations

import json

from slipstream.scheduler.loop import SchedulerThread
from tests.engine.support import add_dag, read_log, task_instances, trigger, wait_for_run

DAG_ID = "params_e2e"
PARAMS_DAG = """
import json
import os
from datetime import datetime

from airflow import DAG
from airflow.models import BaseOperator
from airflow.models.param import Param
from airflow.operators.bash import BashOperator

OUT = {out!r}


class ParamsProbe(BaseOperator):
    def execute(self, context):
        with open(os.path.join(OUT, context["run_id"] + ".json"), "w") as handle:
            json.dump({{"context": context["params"], "task": self.params}}, handle)


with DAG(
    {dag_id!r},
    schedule=None,
    start_date=datetime(2024, 1, 1),
    params={{"count": Param(1, type="integer"), "who": "dag", "level": Param("low", enum=["low", "high"])}},
) as dag:
    ParamsProbe(task_id="probe", params={{"who": "task", "limit": Param(5, type="integer", maximum=10)}})
    BashOperator(
        task_id="echo",
        bash_command="echo count={{{{ params.count }}}} who={{{{ params.who }}}} level={{{{ params.level }}}}",
    )
"""


def write_params_dag(settings, tmp_path):
    out = tmp_path / "captured"
    out.mkdir()
    add_dag(settings, DAG_ID, PARAMS_DAG.format(out=str(out), dag_id=DAG_ID))
    return out


def test_merged_params_reach_templates_and_the_context(engine_settings, scheduler, tmp_path):
    out = write_params_dag(engine_settings, tmp_path)
    run_id = trigger(engine_settings, DAG_ID, conf={"count": 3, "extra": "x"})
    assert wait_for_run(engine_settings, DAG_ID, run_id) == "success"

    # DAG params < task params < conf; an undeclared conf key joins the params.
    captured = json.loads((out / f"{run_id}.json").read_text())
    # The operator itself holds the same merged values while it runs, as in Airflow.
    expected = {"count": 3, "who": "task", "level": "low", "limit": 5, "extra": "x"}
    assert captured == {"context": expected, "task": expected}
    assert "count=3 who=dag level=low" in read_log(engine_settings, DAG_ID, run_id, "echo")


def test_a_conf_breaking_a_task_param_fails_that_try_before_execute(engine_settings, scheduler, tmp_path):
    out = write_params_dag(engine_settings, tmp_path)
    # The trigger checks the DAG's params only (as Airflow does); `limit` is the task's.
    run_id = trigger(engine_settings, DAG_ID, conf={"limit": 50})
    assert wait_for_run(engine_settings, DAG_ID, run_id) == "failed"

    tis = task_instances(engine_settings, DAG_ID, run_id)
    assert (tis["probe"].state, tis["echo"].state) == ("failed", "success")
    assert "Invalid input for param limit: 50 is greater than the maximum of 10" in read_log(
        engine_settings, DAG_ID, run_id, "probe"
    )
    assert not (out / f"{run_id}.json").exists()


def test_with_the_setting_off_conf_is_checked_but_params_keep_their_values(engine_settings, tmp_path):
    settings = engine_settings.with_overrides(dag_run_conf_overrides_params=False)
    out = write_params_dag(settings, tmp_path)
    thread = SchedulerThread(settings)
    thread.start()
    try:
        run_id = trigger(settings, DAG_ID, conf={"count": 3, "extra": "x"})
        assert wait_for_run(settings, DAG_ID, run_id) == "success"
    finally:
        thread.stop(timeout=30)
    captured = json.loads((out / f"{run_id}.json").read_text())
    assert captured["context"] == {"count": 1, "who": "task", "level": "low", "limit": 5}
    assert "count=1 who=dag level=low" in read_log(settings, DAG_ID, run_id, "echo")

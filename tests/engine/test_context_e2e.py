"""The task context on real runs: conf and params reach a Python callable, templates render, env vars are set."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.engine.support import add_dag, read_log, task_instances, trigger, wait_for_run

CONTEXT_DAG = """
import json
import os
from datetime import UTC, datetime

from slipstream.sdk import DAG, BashOperator, PythonOperator

OUT = {out!r}

def capture(greeting, dag_run, params, ds, ti, run_id, task_instance_key_str, logical_date, **context):
    with open(os.path.join(OUT, ds), "w") as handle:
        json.dump(
            {{
                "greeting": greeting,
                "conf": dag_run.conf,
                "params": dict(params),
                "ds": ds,
                "ts": context["ts"],
                "try_number": ti.try_number,
                "run_id": run_id,
                "key": task_instance_key_str,
                "logical_date": logical_date.isoformat(),
                "data_interval": [context["data_interval_start"].isoformat(), context["data_interval_end"].isoformat()],
                "test_mode": context["test_mode"],
                "env": {{k: v for k, v in os.environ.items() if "_CTX_" in k}},
            }},
            handle,
        )
    return "captured"

with DAG(
    "context",
    schedule="@daily",
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,
    params={{"example_key": "dag", "other": "dag"}},
) as dag:
    PythonOperator(
        task_id="capture",
        python_callable=capture,
        params={{"task_param": "task", "example_key": "task"}},
        op_kwargs={{"greeting": "{{{{ dag_run.conf['greeting'] }}}} {{{{ params.example_key }}}}"}},
    )
    BashOperator(
        task_id="echo",
        bash_command=(
            "echo {{{{ params.other }}}} {{{{ ds_nodash }}}} {{{{ logical_date | ts_nodash }}}} $AIRFLOW_CTX_DAG_ID"
        ),
        inlets=["file:///data/in.csv"],
        outlets=["file:///data/out.csv"],
    )
    BashOperator(task_id="undefined", bash_command="echo {{{{ no_such_thing }}}}")
"""


def test_conf_and_params_reach_the_task(engine_settings, scheduler, tmp_path):
    out = tmp_path / "captured"
    out.mkdir()
    add_dag(engine_settings, "context", CONTEXT_DAG.format(out=str(out)))
    when = datetime(2024, 3, 5, 6, 7, 8, tzinfo=UTC)
    run_id = trigger(engine_settings, "context", conf={"greeting": "hello", "example_key": "conf"}, execution_date=when)
    assert wait_for_run(engine_settings, "context", run_id) == "failed"  # "undefined" fails (StrictUndefined)
    captured = json.loads((out / "2024-03-05").read_text())
    assert captured["greeting"] == "hello conf"
    assert captured["conf"] == {"greeting": "hello", "example_key": "conf"}
    # DAG params <- task params <- dag_run.conf
    assert captured["params"] == {"example_key": "conf", "other": "dag", "task_param": "task", "greeting": "hello"}
    assert captured["ds"] == "2024-03-05"
    assert captured["ts"] == "2024-03-05T06:07:08+00:00"
    assert captured["logical_date"] == "2024-03-05T06:07:08+00:00"
    # A manual run of a cron DAG: the last complete interval before the trigger.
    assert captured["data_interval"] == ["2024-03-04T00:00:00+00:00", "2024-03-05T00:00:00+00:00"]
    assert captured["key"] == "context__capture__20240305"
    assert (captured["try_number"], captured["run_id"], captured["test_mode"]) == (1, run_id, False)
    assert captured["env"] == {
        "AIRFLOW_CTX_DAG_OWNER": "airflow",
        "AIRFLOW_CTX_DAG_ID": "context",
        "AIRFLOW_CTX_TASK_ID": "capture",
        "AIRFLOW_CTX_EXECUTION_DATE": "2024-03-05T06:07:08+00:00",
        "AIRFLOW_CTX_TRY_NUMBER": "1",
        "AIRFLOW_CTX_DAG_RUN_ID": run_id,
        "SLIPSTREAM_CTX_DAG_OWNER": "airflow",
        "SLIPSTREAM_CTX_DAG_ID": "context",
        "SLIPSTREAM_CTX_TASK_ID": "capture",
        "SLIPSTREAM_CTX_EXECUTION_DATE": "2024-03-05T06:07:08+00:00",
        "SLIPSTREAM_CTX_TRY_NUMBER": "1",
        "SLIPSTREAM_CTX_DAG_RUN_ID": run_id,
    }

    tis = task_instances(engine_settings, "context", run_id)
    assert tis["capture"].state == "success"
    assert tis["capture"].rendered_fields["op_kwargs"] == {"greeting": "hello conf"}
    assert "Done. Returned value was: captured" in read_log(engine_settings, "context", run_id, "capture")

    assert tis["echo"].state == "success"
    # Lineage is recorded when a task with inlets or outlets executes; the others have none.
    assert tis["echo"].lineage == {"inlets": ["file:///data/in.csv"], "outlets": ["file:///data/out.csv"]}
    assert tis["capture"].lineage is None
    assert "dag 20240305 20240305T060708 context" in read_log(engine_settings, "context", run_id, "echo")

    assert tis["undefined"].state == "failed"
    assert "'no_such_thing' is undefined" in read_log(engine_settings, "context", run_id, "undefined")

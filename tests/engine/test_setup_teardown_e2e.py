"""Setup and teardown on real runs (task-model-semantics §12): a teardown runs after its work failed,
and the run's state follows Airflow's rules for teardowns."""

from __future__ import annotations

import pytest

from tests.engine.support import add_dag, ti_states, trigger, wait_for_run

CLUSTER_DAG = """
import pendulum

from airflow.decorators import setup, task, teardown
from airflow.models.dag import DAG
from airflow.operators.bash import BashOperator

with DAG("{dag_id}", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:

    @setup
    def create_cluster():
        {setup_body}
        return "cluster-1"

    @task
    def work(cluster_id):
        {work_body}

    @teardown{teardown_args}
    def delete_cluster(cluster_id):
        {teardown_body}

    cluster = create_cluster()
    with delete_cluster(cluster):
        work(cluster) >> BashOperator(task_id="after_work", bash_command="true")
"""


def _dag(dag_id, *, setup="pass", work="pass", teardown="pass", teardown_args=""):
    return CLUSTER_DAG.format(
        dag_id=dag_id, setup_body=setup, work_body=work, teardown_body=teardown, teardown_args=teardown_args
    )


FAIL = "raise RuntimeError('boom')"

CASES = [
    # work fails: the teardown still runs, and the run fails (work's downstream is a leaf).
    ("work_fails", {"work": FAIL}, "failed",
     {"create_cluster": "success", "work": "failed", "after_work": "upstream_failed", "delete_cluster": "success"}),
    # only the teardown fails: teardowns do not decide the run...
    ("teardown_fails", {"teardown": FAIL}, "success",
     {"create_cluster": "success", "work": "success", "after_work": "success", "delete_cluster": "failed"}),
    # ...unless on_failure_fail_dagrun.
    ("teardown_fails_run", {"teardown": FAIL, "teardown_args": "(on_failure_fail_dagrun=True)"}, "failed",
     {"create_cluster": "success", "work": "success", "after_work": "success", "delete_cluster": "failed"}),
    # the setup fails: nothing it covers runs.
    ("setup_fails", {"setup": FAIL}, "failed",
     {"create_cluster": "failed", "work": "upstream_failed", "after_work": "upstream_failed",
      "delete_cluster": "upstream_failed"}),
]  # fmt: skip


@pytest.mark.parametrize(("dag_id", "bodies", "run_state", "states"), CASES, ids=[c[0] for c in CASES])
def test_teardown_outcomes(engine_settings, scheduler, dag_id, bodies, run_state, states):
    add_dag(engine_settings, dag_id, _dag(dag_id, **bodies))
    run_id = trigger(engine_settings, dag_id)
    assert wait_for_run(engine_settings, dag_id, run_id) == run_state
    assert ti_states(engine_settings, dag_id, run_id) == states


SKIPPED_SETUP_DAG = """
import pendulum

from airflow.models.dag import DAG
from airflow.operators.bash import BashOperator

with DAG("skipped_setup", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    s = BashOperator(task_id="s", bash_command="exit 99").as_setup()
    w = BashOperator(task_id="w", bash_command="true")
    t = BashOperator(task_id="t", bash_command="true").as_teardown(setups=s)
    s >> w >> t
"""


def test_a_skipped_setup_skips_its_work_and_teardown(engine_settings, scheduler):
    add_dag(engine_settings, "skipped_setup", SKIPPED_SETUP_DAG)
    run_id = trigger(engine_settings, "skipped_setup")
    assert wait_for_run(engine_settings, "skipped_setup", run_id) == "success"
    assert ti_states(engine_settings, "skipped_setup", run_id) == {"s": "skipped", "w": "skipped", "t": "skipped"}


SHORT_CIRCUIT_DAG = """
import pendulum

from airflow.models.dag import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.python import ShortCircuitOperator

with DAG("short_circuit_teardown", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    s = BashOperator(task_id="s", bash_command="true").as_setup()
    check = ShortCircuitOperator(task_id="check", python_callable=lambda: False)
    w = BashOperator(task_id="w", bash_command="true")
    t = BashOperator(task_id="t", bash_command="true").as_teardown(setups=s)
    s >> check >> w >> t
"""


def test_short_circuit_never_skips_a_teardown(engine_settings, scheduler):
    add_dag(engine_settings, "short_circuit_teardown", SHORT_CIRCUIT_DAG)
    run_id = trigger(engine_settings, "short_circuit_teardown")
    assert wait_for_run(engine_settings, "short_circuit_teardown", run_id) == "success"
    assert ti_states(engine_settings, "short_circuit_teardown", run_id) == {
        "s": "success",
        "check": "success",
        "w": "skipped",
        "t": "success",
    }


def test_clearing_work_runs_its_setup_and_teardown_again(engine_settings, scheduler):
    from slipstream.api.app import create_app
    from tests.engine.support import task_instances

    add_dag(engine_settings, "clear_scope", _dag("clear_scope"))
    run_id = trigger(engine_settings, "clear_scope")
    assert wait_for_run(engine_settings, "clear_scope", run_id) == "success"

    api = create_app(engine_settings.with_overrides(auth_backend="default")).test_client()
    body = {"dag_run_id": run_id, "task_ids": ["work"], "only_failed": False, "dry_run": False, "reset_dag_runs": True}
    cleared = api.post("/api/v1/dags/clear_scope/clearTaskInstances", json=body)
    assert cleared.status_code == 200, cleared.text
    # Airflow's partial_subset: the work's setup and teardown are cleared with it, its downstream is not.
    assert sorted(ti["task_id"] for ti in cleared.json()["task_instances"]) == [
        "create_cluster",
        "delete_cluster",
        "work",
    ]
    assert wait_for_run(engine_settings, "clear_scope", run_id) == "success"
    tries = {task_id: ti.try_number for task_id, ti in task_instances(engine_settings, "clear_scope", run_id).items()}
    assert tries == {"create_cluster": 2, "work": 2, "delete_cluster": 2, "after_work": 1}

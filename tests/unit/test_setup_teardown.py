"""Setup/teardown marking, its messages and the parse rule (task-model-semantics §12)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from slipstream.dag_processing.child import parse
from slipstream.scheduler.dag_specs import DagSpec
from slipstream.scheduler.dependencies import Decision, decide
from slipstream.sdk import DAG, BashOperator, EmptyOperator, TaskGroup, task_group
from slipstream.sdk.decorators import task
from slipstream.sdk.exceptions import AirflowException
from slipstream.sdk.serialization import serialize_dag
from slipstream.sdk.setup_teardown import setup, teardown

START = datetime(2024, 1, 1, tzinfo=UTC)


def test_as_teardown_marks_both_ends_and_links_them():
    with DAG("d", schedule=None, start_date=START):
        s = EmptyOperator(task_id="s")
        t = EmptyOperator(task_id="t").as_teardown(setups=s, on_failure_fail_dagrun=True)
    assert s.is_setup and t.is_teardown and t.on_failure_fail_dagrun
    assert t.trigger_rule == "all_done_setup_success"
    assert t.upstream_task_ids == {"s"}


def test_a_task_cannot_be_both():
    with DAG("d", schedule=None, start_date=START):
        t = EmptyOperator(task_id="t").as_teardown()
        with pytest.raises(ValueError, match=r"^Cannot mark task 't' as setup; task is already a teardown\.$"):
            t.as_setup()


def test_teardown_trigger_rule_is_not_configurable():
    with pytest.raises(ValueError, match=r"^Trigger rule not configurable for teardown tasks\.$"):

        @teardown
        @task(trigger_rule="all_done")
        def clean():
            pass


def test_task_groups_cannot_be_marked():
    with pytest.raises(AirflowException, match=r"^Task groups cannot be marked as setup or teardown\.$"):

        @setup
        @task_group
        def group():
            pass


def test_only_marked_tasks_are_context_managers():
    with DAG("d", schedule=None, start_date=START):
        plain = EmptyOperator(task_id="plain")
        with pytest.raises(AirflowException, match=r"^Only setup/teardown tasks can be used as context managers\.$"):
            with plain:
                pass


def test_with_setup_teardown_wraps_the_work_made_inside():
    with DAG("d", schedule=None, start_date=START):
        s = EmptyOperator(task_id="s").as_setup()
        t = EmptyOperator(task_id="t").as_teardown()
        with s >> t:
            a = EmptyOperator(task_id="a")
            b = EmptyOperator(task_id="b")
            a >> b
    assert a.upstream_task_ids == {"s"} and b.downstream_task_ids == {"t"}
    assert t.upstream_task_ids == {"s", "b"}


def test_decorators_mark_each_call():
    with DAG("d", schedule=None, start_date=START) as dag:

        @setup
        def make():
            return 1

        @teardown(on_failure_fail_dagrun=True)
        def drop(x):
            pass

        drop(make())
    assert dag.task_dict["make"].is_setup
    assert dag.task_dict["drop"].is_teardown and dag.task_dict["drop"].on_failure_fail_dagrun
    data = serialize_dag(dag)["tasks"]
    assert data["make"]["is_setup"] and data["drop"]["on_failure_fail_dagrun"]
    assert "is_setup" not in data["drop"]


def test_a_group_leaf_that_is_a_teardown_gives_way_to_its_work():
    with DAG("d", schedule=None, start_date=START):
        with TaskGroup("g") as g:
            s = EmptyOperator(task_id="s").as_setup()
            w = EmptyOperator(task_id="w")
            t = EmptyOperator(task_id="t").as_teardown(setups=s)
            s >> w >> t
        after = EmptyOperator(task_id="after")
        g >> after
    assert after.upstream_task_ids == {"g.w"}


def test_parse_rule_is_an_import_error(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text(
        "from datetime import datetime, timezone\n"
        "from airflow import DAG\n"
        "from airflow.operators.empty import EmptyOperator\n"
        "with DAG('bad', schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)):\n"
        "    s = EmptyOperator(task_id='s').as_setup()\n"
        "    s >> EmptyOperator(task_id='w', trigger_rule='all_done')\n"
    )
    result = parse(str(path))
    assert result["dags"] == []
    assert result["error"] == "ValueError: Setup tasks must be followed with trigger rule ALL_SUCCESS."


def test_teardown_rule_counts_direct_setups():
    rule = "all_done_setup_success"
    up = ["s", "w"]
    assert decide(rule, up, {"s": "success", "w": "running"}, setups=["s"]) is Decision.WAIT
    assert decide(rule, up, {"s": "success", "w": "failed"}, setups=["s"]) is Decision.RUN
    assert decide(rule, up, {"s": "skipped", "w": "skipped"}, setups=["s"]) is Decision.SKIP
    assert decide(rule, up, {"s": "failed", "w": "upstream_failed"}, setups=["s"]) is Decision.UPSTREAM_FAILED
    assert decide(rule, ["w"], {"w": "failed"}) is Decision.RUN


def test_run_state_ignores_teardowns_unless_asked():
    with DAG("d", schedule=None, start_date=START) as dag:
        s = BashOperator(task_id="s", bash_command="true").as_setup()
        w = BashOperator(task_id="w", bash_command="true")
        t = BashOperator(task_id="t", bash_command="true").as_teardown(setups=s)
        s >> w >> t
    assert DagSpec.from_serialized(serialize_dag(dag), "h").leaves == {"w"}
    t.on_failure_fail_dagrun = True
    assert DagSpec.from_serialized(serialize_dag(dag), "h").leaves == {"t"}


def test_work_waits_for_setups_further_up_in_scope():
    with DAG("d", schedule=None, start_date=START) as dag:
        s = EmptyOperator(task_id="s").as_setup()
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b", trigger_rule="all_done")
        t = EmptyOperator(task_id="t").as_teardown(setups=s)
        s >> a >> b >> t
    spec = DagSpec.from_serialized(serialize_dag(dag), "h")
    b_spec = spec.tasks["b"]
    assert b_spec.indirect_setups == ("s",)
    states = {"s": "failed", "a": "upstream_failed"}
    assert decide("all_done", ["a"], states, indirect_setups=b_spec.indirect_setups) is Decision.UPSTREAM_FAILED

"""TaskFlow at parse time: ids, edges, XComArgs, argument binding and Airflow's errors (task-model §3)."""

from __future__ import annotations

import pendulum
import pytest

from slipstream.sdk.dag import DAG
from slipstream.sdk.decorators import dag, task
from slipstream.sdk.operators import BashOperator
from slipstream.sdk.task_group import TaskGroup
from slipstream.sdk.xcom_arg import PlainXComArg, XComArg

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def test_calls_get_unique_ids_and_edges_follow_arguments():
    with DAG("d", schedule=None, start_date=START) as d:

        @task
        def f(x=None):
            return x

        a = f()
        b = f(a)
        c = f(b)
        with TaskGroup("g"):
            g1 = f()
            g2 = f(g1)
    assert [t for t in d.task_ids] == ["f", "f__1", "f__2", "g.f", "g.f__1"]
    assert d.task_dict["f__1"].upstream_task_ids == {"f"}
    assert d.task_dict["f__2"].upstream_task_ids == {"f__1"}
    assert d.task_dict["g.f__1"].upstream_task_ids == {"g.f"}
    assert isinstance(c, PlainXComArg) and c.operator.task_id == "f__2"
    assert g2.operator.task_id == "g.f__1"


def test_the_next_suffix_follows_the_highest_taken():
    with DAG("d", schedule=None, start_date=START) as d:

        @task
        def f():
            return 1

        f()
        f.override(task_id="f__7")()
        f()
    assert sorted(d.task_ids) == ["f", "f__7", "f__8"]


def test_xcomarg_lookups_strings_and_errors():
    with DAG("d", schedule=None, start_date=START):
        op = BashOperator(task_id="op", bash_command="echo 1")
    arg = op.output
    assert arg == XComArg(op)
    assert arg["k"].key == "k"
    assert str(arg) == "{{ task_instance.xcom_pull(task_ids='op', dag_id='d', key='return_value') }}"
    with pytest.raises(ValueError, match="XComArg only supports str lookup, received int"):
        arg[0]
    with pytest.raises(TypeError, match="'XComArg' object is not iterable"):
        list(arg)


def test_xcomarg_in_a_template_field_and_shift_make_edges():
    with DAG("d", schedule=None, start_date=START) as d:
        first = BashOperator(task_id="first", bash_command="echo 1")
        second = BashOperator(task_id="second", bash_command=first.output)

        @task
        def after():
            return 2

        third = BashOperator(task_id="third", bash_command="true")
        after() >> third
        first.output >> BashOperator(task_id="fourth", bash_command="true")
    assert d.task_dict["second"].upstream_task_ids == {"first"}
    assert d.task_dict["third"].upstream_task_ids == {"after"}
    assert d.task_dict["fourth"].upstream_task_ids == {"first"}
    assert second.bash_command == first.output


def test_multiple_outputs_follow_the_return_annotation_unless_given():
    with DAG("d", schedule=None, start_date=START) as d:

        @task
        def mapping() -> dict[str, int]:
            return {}

        @task
        def plain() -> int:
            return 1

        @task(multiple_outputs=False)
        def forced() -> dict[str, int]:
            return {}

        mapping(), plain(), forced()
    assert [d.task_dict[t].multiple_outputs for t in ("mapping", "plain", "forced")] == [True, False, False]


def test_airflow_errors_at_parse_time():
    with pytest.raises(ValueError, match="Context key parameter ds can't have a default other than None"):

        @task
        def bad(ds="x"):
            return ds

    with DAG("d", schedule=None, start_date=START):

        @task
        def two(a, b):
            return a + b

        with pytest.raises(TypeError):
            two(1)
    with pytest.raises(AttributeError, match="task decorator 'nope' not found"):
        task.nope  # noqa: B018


def test_dag_decorator_makes_params_and_doc():
    @dag(schedule=None, start_date=START)
    def my_pipeline(threshold: int = 5):
        """Doc of the pipeline."""

        @task
        def show(value):
            return value

        show(threshold)

    built = my_pipeline()
    assert built.dag_id == "my_pipeline"
    assert built.doc_md == "Doc of the pipeline."
    assert built.params["threshold"] == 5
    value = built.task_dict["show"].op_args[0]
    assert value.resolve({"dag_run": type("R", (), {"conf": {"threshold": 9}})(), "params": {}}) == 9
    assert value.resolve({"dag_run": type("R", (), {"conf": {}})(), "params": {"threshold": 7}}) == 7


def test_bash_decorator_operator_type():
    with DAG("d", schedule=None, start_date=START) as d:

        @task.bash
        def cmd():
            return "echo hi"

        cmd()
    assert d.task_dict["cmd"].operator_name == "_BashDecoratedOperator"

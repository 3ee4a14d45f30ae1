"""Dynamic task mapping at parse time: what `.partial().expand()` builds and every message it refuses with."""

from __future__ import annotations

import gc
import warnings
from datetime import datetime

import pytest

from slipstream.sdk.dag import DAG
from slipstream.sdk.decorators import task
from slipstream.sdk.mapping import ExpandInput, MappedOperator
from slipstream.sdk.operators import BashOperator, PythonOperator
from slipstream.sdk.serialization import serialize_dag


def _dag(dag_id: str = "m") -> DAG:
    return DAG(dag_id, start_date=datetime(2024, 1, 1), schedule=None)


@task
def produce():
    return [1, 2]


@task
def add(x, y=0):
    return x + y


def test_classic_expand_is_one_mapped_task_counted_by_literal_lengths():
    with _dag() as dag:
        BashOperator.partial(task_id="b", retries=2).expand(bash_command=["echo 1", "echo 2"], env=[{}, {}, {}])
    task = dag.get_task("b")
    assert isinstance(task, MappedOperator)
    assert task.retries == 2
    serialized = serialize_dag(dag)["tasks"]["b"]
    assert serialized["operator"] == "BashOperator"
    assert serialized["mapping"]["factors"] == [{"literal": 2}, {"literal": 3}]


def test_expand_over_an_xcom_makes_the_producer_upstream():
    with _dag() as dag:
        add.partial(y=1).expand(x=produce())
    assert dag.get_task("add").upstream_task_ids == {"produce"}
    assert serialize_dag(dag)["tasks"]["add"]["mapping"]["factors"] == [{"xcom": "produce"}]


def test_cross_product_order_last_argument_varies_fastest():
    expand_input = ExpandInput("dict_of_lists", {"x": [1, 2], "y": ["a", "b", "c"]})
    got = [expand_input.resolve({}, i) for i in range(6)]
    assert got == [{"x": x, "y": y} for x in (1, 2) for y in "abc"]
    with pytest.raises(IndexError, match="index 6 is over mapped length"):
        expand_input.resolve({}, 6)


def test_a_dict_maps_to_key_value_tuples():
    assert ExpandInput("dict_of_lists", {"kv": {"a": 1, "b": 2}}).resolve({}, 1) == {"kv": ("b", 2)}


def test_expand_kwargs_element_errors():
    with pytest.raises(ValueError, match=r"expand_kwargs\(\) expects a list\[dict\], not list\[int\]"):
        ExpandInput("list_of_dicts", [1]).resolve({}, 0)
    with pytest.raises(ValueError, match="input dict keys must all be str, but 1 is of type int"):
        ExpandInput("list_of_dicts", [{1: "a"}]).resolve({}, 0)


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: BashOperator.partial(task_id="t").expand(), TypeError, "no arguments to expand against"),
        (
            lambda: BashOperator.partial(task_id="t").expand(nope=[1]),
            TypeError,
            "BashOperator.expand() got an unexpected keyword argument 'nope'",
        ),
        (
            lambda: BashOperator.partial(task_id="t").expand(bash_command="echo"),
            ValueError,
            "BashOperator.expand() got an unexpected type 'str' for keyword argument bash_command",
        ),
        (
            lambda: BashOperator.partial(task_id="t").expand(bash_command=1),
            ValueError,
            "BashOperator.expand() got an unexpected type 'int' for keyword argument bash_command",
        ),
        (
            lambda: BashOperator.partial(task_id="t").expand(retries=[1, 2]),
            TypeError,
            "unmappable or already specified argument: retries",
        ),
        (
            lambda: BashOperator.partial(task_id="t", env={}).expand(env=[{}]),
            TypeError,
            "unmappable or already specified argument: env",
        ),
        (
            lambda: BashOperator.partial(task_id="t").expand_kwargs(3),
            TypeError,
            "expected XComArg or list[dict], not int",
        ),
        (
            lambda: BashOperator.partial(task_id="t").expand_kwargs([1]),
            TypeError,
            "expected XComArg or list[dict], not list",
        ),
        (
            lambda: BashOperator.partial(task_id="t").expand(bash_command=produce().operator.output["k"]),
            ValueError,
            "cannot map over XCom with custom key 'k' from <Task(_PythonDecoratedOperator): produce>",
        ),
        (
            lambda: BashOperator.partial(task_id="t", trigger_rule="always").expand(bash_command=produce()),
            ValueError,
            "Task-generated mapping within a task using 'expand' is not allowed with trigger rule 'always'.",
        ),
        (
            lambda: add.partial(x=1).partial(x=2),
            TypeError,
            "duplicate partial argument: x",
        ),
        (lambda: add.expand(ds=[1]), ValueError, "cannot call expand() on task context variable 'ds'"),
        (lambda: add.expand(x="abc"), ValueError, "expand() got an unexpected type 'str' for keyword argument 'x'"),
        (lambda: add.expand(z=[1]), TypeError, "expand() got an unexpected keyword argument 'z'"),
        (lambda: add.expand(), TypeError, "no arguments to expand against"),
        (
            lambda: add.override(trigger_rule="always").expand(x=produce()),
            ValueError,
            "Task-generated mapping within a task using 'expand' is not allowed with trigger rule 'always'.",
        ),
        (lambda: add.expand_kwargs("x"), TypeError, "expected XComArg or list[dict], not str"),
    ],
)
def test_parse_time_messages(build, error, message):
    with _dag():
        with pytest.raises(error) as raised:
            build()
    assert str(raised.value) == message


def test_taskflow_key_in_partial_and_expand_is_not_refused():
    with _dag() as dag:
        add.partial(x=1).expand(x=[2, 3])
    assert dag.get_task("add").expand_input.value == {"x": [2, 3]}


def test_a_partial_never_expanded_warns():
    with _dag():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            PythonOperator.partial(task_id="lonely", python_callable=print)
            gc.collect()
    assert any(str(w.message) == "Task 'lonely' was never mapped!" for w in caught)


def test_unmap_builds_the_operator_of_one_index():
    with _dag() as dag:
        BashOperator.partial(task_id="b", retries=3).expand(bash_command=["echo 1", "echo 2"])
    mapped = dag.get_task("b")

    class Ti:
        map_index = 1

    operator = mapped.unmap({"ti": Ti()}, 1)
    assert isinstance(operator, BashOperator)
    assert operator.retries == 3
    assert operator.task_id == "b"
    assert operator.dag is dag


def test_mapped_task_group_messages():
    from slipstream.sdk.task_group import task_group

    @task_group
    def classic_inside(value):
        BashOperator.partial(task_id="inner").expand(bash_command=["echo"])

    @task_group
    def always_inside(value):
        add.override(trigger_rule="always")(value)

    @task_group
    def taskflow_inside(value):
        add.expand(x=[1, 2])

    for group in (classic_inside, taskflow_inside):
        with _dag():
            with pytest.raises(NotImplementedError, match="operator expansion in an expanded task group is not yet"):
                group.expand(value=[1])
    with _dag():
        with pytest.raises(ValueError) as raised:
            always_inside.expand(value=produce())
    assert str(raised.value) == (
        "Task-generated mapping within a mapped task group is not allowed with trigger rule 'always'"
    )


def test_every_task_of_a_mapped_group_gets_the_group_count():
    from slipstream.sdk.task_group import task_group

    @task_group
    def group(value):
        BashOperator(task_id="echo", bash_command="echo")
        add(value)

    with _dag() as dag:
        group.expand(value=produce())
    tasks = serialize_dag(dag)["tasks"]
    assert tasks["group.echo"]["mapping"] == {"factors": [{"xcom": "produce"}], "group": "group"}
    assert tasks["group.add"]["mapping"] == {"factors": [{"xcom": "produce"}], "group": "group"}
    assert dag.get_task("group.echo").upstream_task_ids == {"produce"}


def test_zip_concat_and_map_are_counted_from_their_producers():
    @task
    def other():
        return ["a"]

    with _dag() as dag:
        first, second = produce(), other()
        add.expand(x=first.zip(second))
        add.expand(x=first.zip(second, fillvalue=None))
        add.expand(x=first.concat(second))
        add.expand(x=first.map(str))
    tasks = serialize_dag(dag)["tasks"]
    assert tasks["add"]["mapping"]["factors"] == [{"zip": [{"xcom": "produce"}, {"xcom": "other"}], "fill": False}]
    assert tasks["add__1"]["mapping"]["factors"][0]["fill"] is True
    assert tasks["add__2"]["mapping"]["factors"] == [{"concat": [{"xcom": "produce"}, {"xcom": "other"}]}]
    assert tasks["add__3"]["mapping"]["factors"] == [{"xcom": "produce"}]
    assert dag.get_task("add").upstream_task_ids == {"produce", "other"}


def test_map_zip_concat_on_a_custom_key_are_refused():
    with _dag():
        custom = produce().operator.output["k"]
        for call, message in (
            (lambda: custom.map(str), "cannot map against non-return XCom"),
            (lambda: custom.zip(custom), "cannot map against non-return XCom"),
            (lambda: custom.concat(custom), "cannot concatenate non-return XCom"),
        ):
            with pytest.raises(ValueError, match=message):
                call()


def test_the_scheduler_counts_zip_and_concat():
    from slipstream.scheduler.expansion import mapped_length

    def done(task_id):
        return ("success",)

    known = {"a": 3, "b": 5}
    zipped = {"zip": [{"xcom": "a"}, {"xcom": "b"}], "fill": False}
    assert mapped_length([zipped], done, known) == 3
    assert mapped_length([{**zipped, "fill": True}], done, known) == 5
    assert mapped_length([{"concat": [{"xcom": "a"}, {"xcom": "b"}]}, {"literal": 2}], done, known) == 16

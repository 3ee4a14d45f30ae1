"""The SDK DAG files use: dependencies, default_args and the checks that reject a bad DAG."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slipstream.sdk import DAG, AirflowException, BashOperator, EmptyOperator, PythonOperator, chain
from slipstream.sdk.exceptions import DuplicateTaskIdFound


def ids(task, direction: str = "downstream") -> set[str]:
    return set(getattr(task, f"{direction}_task_ids"))


def test_rshift_sets_both_directions_and_chains():
    with DAG("d", schedule=None):
        a, b, c = (EmptyOperator(task_id=t) for t in "abc")
        result = a >> b >> c

    assert result is c
    assert ids(a) == {"b"} and ids(b) == {"c"} and ids(c) == set()
    assert ids(a, "upstream") == set() and ids(b, "upstream") == {"a"} and ids(c, "upstream") == {"b"}


def test_lshift_points_the_other_way():
    with DAG("d", schedule=None):
        a, b, c = (EmptyOperator(task_id=t) for t in "abc")
        c << b << a

    assert ids(a) == {"b"} and ids(b) == {"c"}
    assert ids(c, "upstream") == {"b"} and ids(b, "upstream") == {"a"}


def test_lists_on_either_side_fan_out_and_in():
    with DAG("d", schedule=None) as dag:
        start, left, right, end, last = (EmptyOperator(task_id=t) for t in ("start", "left", "right", "end", "last"))
        start >> [left, right]
        [left, right] >> end
        [last] << end

    assert ids(start) == {"left", "right"}
    assert ids(end, "upstream") == {"left", "right"}
    assert ids(end) == {"last"}
    assert [t.task_id for t in dag.roots] == ["start"]
    assert [t.task_id for t in dag.leaves] == ["last"]


def test_set_upstream_and_chain():
    with DAG("d", schedule=None):
        a, b, c, d = (EmptyOperator(task_id=t) for t in "abcd")
        b.set_upstream(a)
        chain(b, [c, d])

    assert ids(a) == {"b"} and ids(b) == {"c", "d"}


def test_default_args_fill_what_the_task_leaves_out():
    start = datetime(2024, 1, 1, tzinfo=UTC)
    default_args = {
        "owner": "data-team",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "pool": "shared",
        "start_date": start,
        "email": ["ops@example.com"],
        "not_an_argument": "ignored",
    }
    with DAG("d", schedule=None, default_args=default_args) as dag:
        plain = BashOperator(task_id="plain", bash_command="echo 1")
        explicit = BashOperator(task_id="explicit", bash_command="echo 1", retries=5, owner="me")
        own_defaults = EmptyOperator(task_id="own", default_args={"retries": 7, "queue": "fast"})

    assert dag.start_date == start
    assert (plain.owner, plain.retries, plain.retry_delay, plain.pool) == (
        "data-team",
        2,
        timedelta(minutes=1),
        "shared",
    )
    assert plain.email == ["ops@example.com"] and plain.start_date == start
    assert (explicit.owner, explicit.retries, explicit.pool) == ("me", 5, "shared")
    assert (own_defaults.retries, own_defaults.queue, own_defaults.owner) == (7, "fast", "data-team")


def test_task_defaults_match_airflow():
    with DAG("d", schedule=None):
        task = PythonOperator(task_id="t", python_callable=lambda: None)

    assert (task.owner, task.retries, task.retry_delay) == ("airflow", 0, timedelta(seconds=300))
    assert (task.pool, task.pool_slots, task.queue, task.priority_weight) == ("default_pool", 1, "default", 1)
    assert (task.trigger_rule, task.weight_rule) == ("all_success", "downstream")


def test_an_invalid_trigger_rule_is_rejected():
    with DAG("d", schedule=None), pytest.raises(AirflowException, match="trigger_rule must be one of") as info:
        EmptyOperator(task_id="t", trigger_rule="when_i_feel_like_it")

    assert str(info.value).endswith(",'d.t'; received 'when_i_feel_like_it'.")


def test_a_duplicate_task_id_is_rejected():
    with DAG("d", schedule=None) as dag:
        EmptyOperator(task_id="same")
        with pytest.raises(DuplicateTaskIdFound) as info:
            EmptyOperator(task_id="same")

    assert str(info.value) == "Task id 'same' has already been added to the DAG"

    assert dag.task_ids == ["same"]


def test_unknown_operator_arguments_are_rejected():
    with DAG("d", schedule=None), pytest.raises(AirflowException) as info:
        BashOperator(task_id="t", bash_comand="echo typo", bash_command="echo 1")

    assert str(info.value) == (
        "Invalid arguments were passed to BashOperator (task_id: t). Invalid arguments were:\n"
        "**kwargs: {'bash_comand': 'echo typo'}"
    )


def test_tasks_in_different_dags_cannot_be_related():
    with DAG("one", schedule=None):
        a = EmptyOperator(task_id="a")
    with DAG("two", schedule=None):
        b = EmptyOperator(task_id="b")

    with pytest.raises(AirflowException, match="more than one DAG"):
        a >> b


def test_an_invalid_schedule_is_rejected():
    with pytest.raises(ValueError, match="Invalid schedule"):
        DAG("d", schedule="every tuesday")

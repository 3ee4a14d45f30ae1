"""What a clear of chosen tasks reaches (Airflow's DAG.partial_subset): relatives as asked, plus the
setups (and their teardowns) the chosen work runs in; marking a state reaches plain relatives only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from slipstream.sdk import DAG, BashOperator
from slipstream.sdk.serialization import serialize_dag
from slipstream.services.clearing import clear_subset, task_relatives


def _task(task_id: str) -> BashOperator:
    return BashOperator(task_id=task_id, bash_command="true")


@pytest.fixture(scope="module")
def tasks() -> dict:
    with DAG("scopes", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
        # prep >> work_1 >> work_2 inside create's scope, torn down by delete.
        create, delete = _task("create").as_setup(), _task("delete")
        delete.as_teardown(setups=create)
        _task("prep") >> (work_1 := _task("work_1")) >> _task("work_2") >> delete
        create >> work_1
        # A setup without a teardown.
        _task("lonely_setup").as_setup() >> _task("lonely_work")
        # A setup whose teardown the work does not reach.
        side, side_teardown = _task("side_setup").as_setup(), _task("side_teardown")
        side_teardown.as_teardown(setups=side)
        side >> _task("side_work")
    return serialize_dag(dag)["tasks"]


@pytest.mark.parametrize(
    ("chosen", "upstream", "downstream", "expected"),
    [
        # Work in a scope brings its setup and that setup's teardown.
        (["work_2"], False, False, {"create", "delete", "work_2"}),
        # Upstream: every upstream task, and the teardowns of upstream setups.
        (["work_1"], True, False, {"prep", "create", "delete", "work_1"}),
        # A setup brings its teardowns.
        (["create"], False, False, {"create", "delete"}),
        # Downstream: each downstream work task brings the setups it runs in.
        (["prep"], False, True, {"prep", "work_1", "work_2", "delete", "create"}),
        # A setup with no teardown counts; a setup whose teardown is not downstream does not.
        (["lonely_work"], False, False, {"lonely_setup", "lonely_work"}),
        (["side_work"], False, False, {"side_work"}),
        # Without setups in play, only what was asked.
        (["prep"], False, False, {"prep"}),
    ],
)
def test_a_clear_reaches_the_setups_its_work_needs(tasks, chosen, upstream, downstream, expected):
    assert set(clear_subset(tasks, chosen, upstream=upstream, downstream=downstream)) == expected


def test_marking_reaches_plain_relatives_only(tasks):
    assert set(task_relatives(tasks, ["work_2"], upstream=False, downstream=False)) == {"work_2"}
    assert set(task_relatives(tasks, ["work_1"], upstream=True, downstream=False)) == {"prep", "create", "work_1"}

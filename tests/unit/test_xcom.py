"""XCom values as stored and pulled: Airflow 2.10's serialization and pull rules (task-model §2)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
from types import SimpleNamespace

import pendulum
import pytest
from sqlalchemy import insert

from slipstream.sdk import metastore, xcom_serde
from slipstream.sdk.xcom import LazySelectSequence, XCom, pull, push
from slipstream.storage.db import session_scope
from slipstream.storage.models import DagRun


@pytest.fixture
def runs(settings, monkeypatch):
    """Two runs of DAG `d` a day apart, and task-process database access bound to the test DB."""
    monkeypatch.setattr(metastore, "_settings", None)
    monkeypatch.setattr(metastore, "_inherited_pid", None)
    metastore.bind_task_process(settings)
    dates = [pendulum.datetime(2024, 1, 1, tz="UTC"), pendulum.datetime(2024, 1, 2, tz="UTC")]
    with session_scope(settings.database_url) as db:
        for i, date in enumerate(dates):
            db.execute(insert(DagRun).values(dag_id="d", run_id=f"r{i}", execution_date=date, state="running"))
    return [
        SimpleNamespace(dag_id="d", run_id=f"r{i}", task_id="t", map_index=-1, logical_date=d)
        for i, d in enumerate(dates)
    ]


def test_round_trips_keep_airflow_types():
    values = [
        (1, "a"),
        {"set": {1, 2}, "nested_tuple": (1, 2), 3: "int key"},
        pendulum.datetime(2024, 3, 4, 5, 6, tz="Europe/Berlin"),
        dt.date(2024, 1, 2),
        dt.timedelta(minutes=3),
        decimal.Decimal("1.10"),
        None,
        [1.5, "x", True],
    ]
    restored = [xcom_serde.deserialize(xcom_serde.serialize(v)) for v in values]
    assert restored[0] == (1, "a") and isinstance(restored[0], tuple)
    assert restored[1] == {"set": {1, 2}, "nested_tuple": [1, 2], "3": "int key"}
    assert restored[2] == values[2] and restored[2].timezone_name == "Europe/Berlin"
    assert restored[3:] == values[3:]


def test_what_cannot_be_stored_is_refused_with_airflows_messages():
    with pytest.raises(TypeError, match="Object of type bytes is not JSON serializable"):
        xcom_serde.serialize(b"raw")
    with pytest.raises(AttributeError, match="reserved key __classname__ found in dict to serialize"):
        xcom_serde.serialize({"__classname__": "x"})


def test_a_dataclass_is_stored_but_only_allow_listed_classes_come_back():
    @dataclasses.dataclass
    class Point:
        x: int

    text = xcom_serde.serialize(Point(1))
    with pytest.raises(ImportError, match="was not found in allow list for deserialization imports"):
        xcom_serde.deserialize(text)


def test_pull_one_several_and_prior_dates(runs):
    first, second = runs
    push(first, "k", "old")
    for task_id, value in (("a", 1), ("b", 2)):
        XCom.set("return_value", value, dag_id="d", task_id=task_id, run_id="r1")
    push(second, "k", "new")
    push(second, "k", "newer")  # a re-push replaces the row
    ti = SimpleNamespace(**{**vars(second), "task_id": "other"})
    assert pull(ti, task_ids="a") == 1
    assert pull(ti, task_ids="missing", default="dflt") == "dflt"
    several = pull(ti, task_ids=["b", "missing", "a"])
    assert isinstance(several, LazySelectSequence)
    assert several == [2, 1] and str(several) == "LazySelectSequence([2 items])"
    assert pull(ti, task_ids="t", key="k") == "newer"
    assert pull(SimpleNamespace(**{**vars(first), "task_id": "x"}), task_ids="t", key="k") == "old"
    # include_prior_dates: the newest up to this run's date; a run on its own sees only itself
    assert pull(ti, task_ids="t", key="k", include_prior_dates=True) == "newer"
    assert pull(SimpleNamespace(**{**vars(second), "run_id": "none"}), task_ids="t", key="k") is None
    assert XCom.get_one(key="k", dag_id="d", task_id="t", run_id="r0") == "old"
    XCom.clear(dag_id="d", task_id="t", run_id="r1")
    assert pull(ti, task_ids="t", key="k") is None


def test_values_over_the_limit_name_the_task_and_key(runs, monkeypatch):
    from slipstream.sdk import runtime

    monkeypatch.setitem(runtime._state, "max_xcom_bytes", 10)
    with pytest.raises(ValueError, match="XCom value of task 't' with key 'big' is .* over the limit of 10 bytes"):
        push(runs[0], "big", "x" * 50)

"""Dynamic task mapping on the real engine: Airflow-style DAG files, expansion in the scheduler,
each map index run by its own task process (task-model-semantics §11)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from slipstream.cli import app as cli_app
from slipstream.storage.db import session_scope
from slipstream.storage.models import TaskInstance, TaskMap, XCom
from tests.engine.support import add_dag, read_log, trigger, wait_for_run

MAPPED_OVER_XCOM = """
import os
import pendulum
from airflow.decorators import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def mapped_over_xcom():
    @task
    def make_list():
        return list(range(int(os.environ.get("MAP_ITEMS", "3"))))

    @task(map_index_template="item {{ x }}")
    def add_one(x, offset):
        return x + offset

    @task
    def total(values):
        return sum(values) if values is not None else "nothing"

    total(add_one.partial(offset=1).expand(x=make_list()))


mapped_over_xcom()
"""


def _instances(settings, dag_id, run_id):
    with session_scope(settings.database_url, write=False) as db:
        rows = db.execute(
            select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state, TaskInstance.rendered_map_index)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
            .order_by(TaskInstance.task_id, TaskInstance.map_index)
        ).all()
    return [tuple(r) for r in rows]


def _xcom(settings, dag_id, run_id, task_id, map_index=-1):
    with session_scope(settings.database_url, write=False) as db:
        value = db.scalar(
            select(XCom.value).where(
                XCom.dag_id == dag_id,
                XCom.run_id == run_id,
                XCom.task_id == task_id,
                XCom.map_index == map_index,
                XCom.key == "return_value",
            )
        )
    return None if value is None else json.loads(value)


@pytest.fixture
def map_items(request, monkeypatch) -> int:
    # Set before the scheduler starts: its fork server (and so every task process) copies the
    # environment when it is spawned, which can come before the test's body runs.
    monkeypatch.setenv("MAP_ITEMS", str(request.param))
    return request.param


@pytest.mark.parametrize("map_items", [0, 1, 500], indirect=True)
def test_mapping_over_an_upstream_xcom(map_items, engine_settings, scheduler):
    items = map_items
    add_dag(engine_settings, "mapped_over_xcom", MAPPED_OVER_XCOM)
    run_id = trigger(engine_settings, "mapped_over_xcom")
    assert wait_for_run(engine_settings, "mapped_over_xcom", run_id, timeout=120) == "success"
    rows = _instances(engine_settings, "mapped_over_xcom", run_id)
    mapped = [r for r in rows if r[0] == "add_one"]
    if items == 0:
        assert mapped == [("add_one", -1, "skipped", None)]
        # The reduce runs on the skipped placeholder? No: all_success skips it, as in Airflow.
        assert [r[2] for r in rows if r[0] == "total"] == ["skipped"]
        return
    assert [(r[1], r[2]) for r in mapped] == [(i, "success") for i in range(items)]
    assert [r[3] for r in mapped][:2] == ["item 0", "item 1"][:items]
    assert _xcom(engine_settings, "mapped_over_xcom", run_id, "total") == sum(range(1, items + 1))
    with session_scope(engine_settings.database_url, write=False) as db:
        assert db.scalar(select(TaskMap.length).where(TaskMap.run_id == run_id)) == items
    log = read_log(engine_settings, "mapped_over_xcom", run_id, f"add_one/map_index={items - 1}")
    assert "Marking task as SUCCESS" in log


LITERAL_DAG = """
import pendulum
from airflow import DAG
from airflow.decorators import task
from airflow.operators.bash import BashOperator

with DAG("literal_mapping", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    @task
    def pair(x, y):
        return f"{x}{y}"

    @task
    def collect(values):
        return list(values)

    collect(pair.expand(x=[1, 2], y=["a", "b", "c"]))

    @task
    def kw(a, b):
        return a * b

    kw.expand_kwargs([{"a": 2, "b": 3}, {"a": 4, "b": 5}])
    BashOperator.partial(task_id="echo", env={"WORD": "hi"}).expand(
        bash_command=["echo $WORD {{ ti.map_index }}", "echo two"]
    )

    @task
    def source():
        return [{"a": 1, "b": 7}]

    kw.expand_kwargs(source())
"""


def test_literal_cross_product_and_expand_kwargs(engine_settings, scheduler, monkeypatch):
    add_dag(engine_settings, "literal_mapping", LITERAL_DAG)
    run_id = trigger(engine_settings, "literal_mapping")
    assert wait_for_run(engine_settings, "literal_mapping", run_id, timeout=120) == "success"
    _check_tasks_cli(engine_settings, monkeypatch, run_id)
    assert _xcom(engine_settings, "literal_mapping", run_id, "collect") == ["1a", "1b", "1c", "2a", "2b", "2c"]
    assert [_xcom(engine_settings, "literal_mapping", run_id, "kw", i) for i in (0, 1)] == [6, 20]
    assert _xcom(engine_settings, "literal_mapping", run_id, "kw__1", 0) == 7
    assert _xcom(engine_settings, "literal_mapping", run_id, "echo", 0) == "hi 0"
    assert _xcom(engine_settings, "literal_mapping", run_id, "echo", 1) == "two"


def _check_tasks_cli(settings, monkeypatch, run_id):
    for name, value in {
        "SLIPSTREAM_HOME": str(settings.home),
        "SLIPSTREAM_DATABASE_URL": settings.database_url,
        "SLIPSTREAM_DAGS_FOLDER": str(settings.dags_folder),
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    states = runner.invoke(cli_app, ["tasks", "states", "literal_mapping", run_id, "--json"])
    assert states.exit_code == 0, states.output
    echo = [(r["map_index"], r["state"]) for r in json.loads(states.output)["task_instances"] if r["task_id"] == "echo"]
    assert sorted(echo) == [(0, "success"), (1, "success")]
    log = runner.invoke(cli_app, ["tasks", "logs", "literal_mapping", run_id, "echo", "--map-index", "1"])
    assert log.exit_code == 0, log.output
    assert "two" in log.output
    missing = runner.invoke(cli_app, ["tasks", "logs", "literal_mapping", run_id, "echo", "--map-index", "7"])
    assert missing.exit_code == 1
    assert "echo[7]" in missing.output


OVER_LENGTH_DAG = """
import pendulum
from airflow.decorators import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"))
def over_length():
    @task
    def many():
        return list(range(1025))

    @task
    def text():
        return "abc"

    @task
    def use(x):
        return x

    use.expand(x=many())
    use.expand(x=text())


over_length()
"""


def test_a_return_value_over_max_map_length_fails_the_producer(engine_settings, scheduler):
    add_dag(engine_settings, "over_length", OVER_LENGTH_DAG)
    run_id = trigger(engine_settings, "over_length")
    assert wait_for_run(engine_settings, "over_length", run_id, timeout=60) == "failed"
    states = {(r[0], r[1]): r[2] for r in _instances(engine_settings, "over_length", run_id)}
    assert states == {
        ("many", -1): "failed",
        ("text", -1): "failed",
        ("use", -1): "upstream_failed",
        ("use__1", -1): "upstream_failed",
    }
    assert "unmappable return value length: 1025 > 1024" in read_log(engine_settings, "over_length", run_id, "many")
    assert "unmappable return type 'str'" in read_log(engine_settings, "over_length", run_id, "text")


MAPPED_GROUP_DAG = """
import pendulum
from airflow.decorators import dag, task, task_group
from airflow.operators.bash import BashOperator


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"))
def mapped_group():
    @task
    def numbers():
        return [1, 2, 3]

    @task_group
    def pipeline(value):
        @task
        def double(v):
            return v * 2

        @task
        def describe(v, d, ti=None):
            return f"{ti.map_index}:{v}->{d}"

        described = describe(value, double(value))
        described >> BashOperator(task_id="echo", bash_command="echo index {{ ti.map_index }}")
        return described

    @task
    def gather(results):
        return list(results)

    gather(pipeline.expand(value=numbers()))


mapped_group()
"""


def test_a_mapped_task_group_and_a_reduce_outside_it(engine_settings, scheduler):
    add_dag(engine_settings, "mapped_group", MAPPED_GROUP_DAG)
    run_id = trigger(engine_settings, "mapped_group")
    assert wait_for_run(engine_settings, "mapped_group", run_id, timeout=120) == "success"
    rows = _instances(engine_settings, "mapped_group", run_id)
    for task_id in ("pipeline.double", "pipeline.describe", "pipeline.echo"):
        assert [(r[1], r[2]) for r in rows if r[0] == task_id] == [(0, "success"), (1, "success"), (2, "success")]
    assert _xcom(engine_settings, "mapped_group", run_id, "gather") == ["0:1->2", "1:2->4", "2:3->6"]
    assert _xcom(engine_settings, "mapped_group", run_id, "pipeline.echo", 2) == "index 2"


def test_literal_mappings_have_their_indexes_from_the_start(engine_settings):
    """Without a scheduler: the run is created with indexes 0..N-1 (an empty literal keeps -1)."""
    add_dag(
        engine_settings,
        "literal_at_creation",
        """
        import pendulum
        from airflow import DAG
        from airflow.operators.bash import BashOperator

        with DAG("literal_at_creation", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
            BashOperator.partial(task_id="three").expand(bash_command=["true", "true", "true"])
            BashOperator.partial(task_id="none").expand(bash_command=[])
        """,
    )
    run_id = trigger(engine_settings, "literal_at_creation")
    rows = _instances(engine_settings, "literal_at_creation", run_id)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("none", -1, None),
        ("three", 0, None),
        ("three", 1, None),
        ("three", 2, None),
    ]


ZIP_CONCAT_MAP_DAG = """
import pendulum
from airflow.decorators import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"))
def zip_concat_map():
    @task
    def nums():
        return [1, 2]

    @task
    def letters():
        return ["x", "y", "z"]

    @task
    def show(v):
        return repr(v)

    @task
    def maybe(v):
        return v

    @task
    def gather(zipped, longest, chained, mapped, with_none, over_mapped):
        return [list(zipped), list(longest), list(chained), list(mapped), list(with_none), list(over_mapped)]

    n, l = nums(), letters()
    gather(
        show.expand(v=n.zip(l)),
        show.expand(v=n.zip(l, fillvalue=0)),
        show.expand(v=n.concat(l)),
        show.expand(v=l.map(str.upper)),
        maybe.expand(v=[1, None, 3]),
        show.expand(v=maybe.expand(v=n)),
    )


zip_concat_map()
"""


def test_zip_concat_and_map(engine_settings, scheduler):
    add_dag(engine_settings, "zip_concat_map", ZIP_CONCAT_MAP_DAG)
    run_id = trigger(engine_settings, "zip_concat_map")
    assert wait_for_run(engine_settings, "zip_concat_map", run_id, timeout=120) == "success"
    assert _xcom(engine_settings, "zip_concat_map", run_id, "gather") == [
        ["(1, 'x')", "(2, 'y')"],
        ["(1, 'x')", "(2, 'y')", "(0, 'z')"],
        ["1", "2", "'x'", "'y'", "'z'"],
        ["'X'", "'Y'", "'Z'"],
        [1, 3],  # an index that returned None pushed nothing: absent from the reduce
        ["1", "2"],  # mapped over a mapped task's values
    ]


RERUN_DAG = """
import pathlib
import pendulum
from airflow.decorators import dag, task

ITEMS = pathlib.Path({items_file!r})


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def mapped_rerun():
    @task
    def make_list():
        return list(range(int(ITEMS.read_text())))

    @task
    def double(x):
        return 2 * x

    @task
    def triple(x):
        return 3 * x

    @task
    def literal(x):
        return x

    triple.expand(x=double.expand(x=make_list()))
    literal.expand(x=[1, 2])


mapped_rerun()
"""


def _clear_run(settings, dag_id, run_id):
    from slipstream.services.clearing import clear_dag_run

    with session_scope(settings.database_url) as db:
        assert clear_dag_run(db, dag_id, run_id)


def test_a_rerun_over_fewer_items_removes_the_extra_map_indexes(engine_settings, scheduler, tmp_path):
    items = tmp_path / "items.txt"
    items.write_text("3")
    add_dag(engine_settings, "mapped_rerun", RERUN_DAG.format(items_file=str(items)))
    run_id = trigger(engine_settings, "mapped_rerun")
    assert wait_for_run(engine_settings, "mapped_rerun", run_id, timeout=120) == "success"
    doubled = [(r[1], r[2]) for r in _instances(engine_settings, "mapped_rerun", run_id) if r[0] == "double"]
    assert doubled == [(0, "success"), (1, "success"), (2, "success")]

    # The upstream yields one item on the re-run: indexes 1 and 2 are removed, the run does not wait on them.
    items.write_text("1")
    _clear_run(engine_settings, "mapped_rerun", run_id)
    assert wait_for_run(engine_settings, "mapped_rerun", run_id, timeout=120) == "success"
    rows = _instances(engine_settings, "mapped_rerun", run_id)
    assert [(r[1], r[2]) for r in rows if r[0] == "double"] == [(0, "success"), (1, "removed"), (2, "removed")]
    # Mapped over the mapped task: its indexes past the upstream's successes go too (Airflow's
    # TriggerRuleDep), though the removed indexes' old values are still counted.
    assert [(r[1], r[2]) for r in rows if r[0] == "triple"] == [(0, "success"), (1, "removed"), (2, "removed")]
    # A literal mapping keeps its count.
    assert [(r[1], r[2]) for r in rows if r[0] == "literal"] == [(0, "success"), (1, "success")]
    with session_scope(engine_settings.database_url, write=False) as db:
        tries = dict(
            db.execute(
                select(TaskInstance.map_index, TaskInstance.try_number).where(
                    TaskInstance.run_id == run_id, TaskInstance.task_id == "double"
                )
            ).all()
        )
    assert tries[0] == 2

    # More items than ever: the removed indexes come back and index 3 is added, each run once more.
    items.write_text("4")
    _clear_run(engine_settings, "mapped_rerun", run_id)
    assert wait_for_run(engine_settings, "mapped_rerun", run_id, timeout=120) == "success"
    rows = _instances(engine_settings, "mapped_rerun", run_id)
    assert [(r[1], r[2]) for r in rows if r[0] == "double"] == [(i, "success") for i in range(4)]
    assert [(r[1], r[2]) for r in rows if r[0] == "triple"] == [(i, "success") for i in range(4)]
    assert _xcom(engine_settings, "mapped_rerun", run_id, "triple", 3) == 18


LITERAL_CHANGE_DAG = """
import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("literal_change", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    BashOperator(task_id="slow", bash_command="{slow}") >> BashOperator.partial(task_id="each").expand(
        bash_command={commands!r}
    )
"""


def test_a_shorter_literal_mapping_in_a_new_dag_version_removes_the_extra_indexes(engine_settings, scheduler):
    from tests.engine.support import ti_states, wait_for

    three = ["echo 0", "echo 1", "echo 2"]
    add_dag(engine_settings, "literal_change", LITERAL_CHANGE_DAG.format(slow="sleep 8", commands=three))
    run_id = trigger(engine_settings, "literal_change")
    wait_for(lambda: ti_states(engine_settings, "literal_change", run_id).get("slow") == "running", 30, "slow")
    # A new version of the file while the run is in flight (Airflow's verify_integrity on a new DAG hash).
    add_dag(engine_settings, "literal_change", LITERAL_CHANGE_DAG.format(slow="sleep 8", commands=["echo 0"]))

    def each():
        return [(r[1], r[2]) for r in _instances(engine_settings, "literal_change", run_id) if r[0] == "each"]

    wait_for(lambda: each()[1:] == [(1, "removed"), (2, "removed")], 30, "the extra indexes to be removed")
    # Removed as the new version is seen, not only when the mapped task is next scheduled.
    assert ti_states(engine_settings, "literal_change", run_id)["slow"] == "running"
    assert wait_for_run(engine_settings, "literal_change", run_id, timeout=60) == "success"
    assert each() == [(0, "success"), (1, "removed"), (2, "removed")]

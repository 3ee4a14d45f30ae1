"""Datasets on real runs (task-model-semantics §13): outlets record events on success, and DAGs
scheduled on datasets get `dataset_triggered` runs once their condition is met."""

from __future__ import annotations

from sqlalchemy import select

from slipstream.storage.dataset_models import DatasetDagRunQueue, DatasetEvent, DatasetModel
from slipstream.storage.db import session_scope
from tests.engine.support import add_dag, read_runs, set_paused, ti_states, trigger, wait_for, wait_for_run

CHAIN = """
import pendulum

from airflow.datasets import Dataset
from airflow.datasets.metadata import Metadata
from airflow.decorators import task
from airflow.models.dag import DAG

raw = Dataset("s3://lake/raw.csv")
clean = Dataset("s3://lake/clean.parquet")
start = pendulum.datetime(2024, 1, 1, tz="UTC")

with DAG("ingest", schedule=None, start_date=start):

    @task(outlets=[raw])
    def land():
        yield Metadata(raw, {"rows": 3})
        return "landed"

    land()

with DAG("refine", schedule=[raw], start_date=start):

    @task(outlets=[clean])
    def refine(*, triggering_dataset_events=None, outlet_events=None, dag_run=None):
        [event] = triggering_dataset_events["s3://lake/raw.csv"]
        assert event.extra == {"rows": 3}, event.extra
        assert event.source_dag_id == "ingest" and event.source_task_id == "land"
        assert dag_run.run_type == "dataset_triggered" and not dag_run.external_trigger
        outlet_events[clean].extra = {"rows": event.extra["rows"] - 1}

    refine()

with DAG("report", schedule=[clean], start_date=start):

    @task(inlets=[clean, raw])
    def report(*, inlet_events=None, triggering_dataset_events=None):
        assert [e.extra for e in inlet_events[clean]] == [{"rows": 2}]
        assert [e.extra for e in inlet_events[raw]] == [{"rows": 3}]
        assert list(triggering_dataset_events) == ["s3://lake/clean.parquet"]
        try:
            inlet_events[Dataset("s3://lake/other")]
        except KeyError:
            return "ok"
        raise AssertionError("a dataset that is not an inlet must be a KeyError")

    report()
"""


def _events(settings, uri):
    with session_scope(settings.database_url, write=False) as db:
        return db.execute(
            select(DatasetEvent.extra, DatasetEvent.source_dag_id, DatasetEvent.source_run_id)
            .join(DatasetModel, DatasetModel.id == DatasetEvent.dataset_id)
            .where(DatasetModel.uri == uri)
        ).all()


def test_a_chain_of_three_dags(engine_settings, scheduler):
    add_dag(engine_settings, "chain", CHAIN)
    run_id = trigger(engine_settings, "ingest")
    assert wait_for_run(engine_settings, "ingest", run_id) == "success"
    assert _events(engine_settings, "s3://lake/raw.csv") == [({"rows": 3}, "ingest", run_id)]

    refine = wait_for(lambda: read_runs(engine_settings, "refine"), 20, "a refine run")
    assert len(refine) == 1
    run = refine[0]
    assert run.run_type == "dataset_triggered" and run.external_trigger is False
    assert run.run_id == f"dataset_triggered__{run.execution_date.isoformat()}"
    assert run.execution_date.microsecond != 0 or run.run_id.endswith("+00:00")
    assert wait_for_run(engine_settings, "refine", run.run_id) == "success", ti_states(
        engine_settings, "refine", run.run_id
    )
    report = wait_for(lambda: read_runs(engine_settings, "report"), 20, "a report run")
    assert wait_for_run(engine_settings, "report", report[0].run_id) == "success"
    with session_scope(engine_settings.database_url, write=False) as db:
        assert db.scalars(select(DatasetDagRunQueue)).all() == []


CONDITIONS = """
import pendulum

from airflow.datasets import Dataset
from airflow.models.dag import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator

a, b = Dataset("file:///data/a"), Dataset("file:///data/b")
start = pendulum.datetime(2024, 1, 1, tz="UTC")

with DAG("make_a", schedule=None, start_date=start):
    BashOperator(task_id="make", bash_command="true", outlets=[a])
with DAG("make_a_badly", schedule=None, start_date=start):
    BashOperator(task_id="make", bash_command="exit 1", outlets=[a])
with DAG("make_b", schedule=None, start_date=start):
    BashOperator(task_id="make", bash_command="true", outlets=[b])
with DAG("needs_both", schedule=(a & b), start_date=start):
    EmptyOperator(task_id="go")
with DAG("needs_either", schedule=(a | b), start_date=start):
    EmptyOperator(task_id="go")
with DAG("paused_consumer", schedule=[a], start_date=start):
    EmptyOperator(task_id="go")
"""


def test_conditions_failures_and_paused_consumers(engine_settings, scheduler):
    add_dag(engine_settings, "conditions", CONDITIONS)
    set_paused(engine_settings, "paused_consumer", True)

    bad = trigger(engine_settings, "make_a_badly")
    assert wait_for_run(engine_settings, "make_a_badly", bad) == "failed"
    assert _events(engine_settings, "file:///data/a") == []  # a failed producer emits nothing

    first = trigger(engine_settings, "make_a")
    assert wait_for_run(engine_settings, "make_a", first) == "success"
    either = wait_for(lambda: read_runs(engine_settings, "needs_either"), 20, "an either run")
    assert len(either) == 1
    assert read_runs(engine_settings, "needs_both") == []  # a alone is not enough

    second = trigger(engine_settings, "make_b")
    assert wait_for_run(engine_settings, "make_b", second) == "success"
    both = wait_for(lambda: read_runs(engine_settings, "needs_both"), 20, "a both run")
    assert len(both) == 1
    assert wait_for_run(engine_settings, "needs_both", both[0].run_id) == "success"
    assert (both[0].data_interval_start, both[0].data_interval_end) != (None, None)
    wait_for(lambda: len(read_runs(engine_settings, "needs_either")) == 2, 20, "a second either run")
    set_paused(engine_settings, "paused_consumer", False)
    assert read_runs(engine_settings, "paused_consumer") == []  # it missed the events while paused


BAD_EXTRA = """
import pendulum

from airflow.datasets import Dataset
from airflow.decorators import task
from airflow.models.dag import DAG

d = Dataset("s3://lake/bad")

with DAG("bad_extra", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):

    @task(outlets=[d])
    def produce(*, outlet_events=None):
        outlet_events[d].extra = {"when": object()}

    produce()
"""


def test_an_extra_that_is_not_json_fails_the_try_and_writes_no_event(engine_settings, scheduler):
    add_dag(engine_settings, "bad_extra", BAD_EXTRA)
    run_id = trigger(engine_settings, "bad_extra")
    assert wait_for_run(engine_settings, "bad_extra", run_id) == "failed"
    assert _events(engine_settings, "s3://lake/bad") == []

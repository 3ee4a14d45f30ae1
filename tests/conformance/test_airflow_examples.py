"""Airflow 2.10.5's own example DAGs, unchanged, end as they end in Airflow 2.10.5.

The example files are fetched from the apache-airflow wheel at test time (airflow_wheel.py) and
copied as they are into a temporary DAGs folder. One engine serves the whole module: the real dag
processor parses the folder, the scheduler with the local executor runs what the experimental API
triggers (one manual run per DAG, empty conf, all triggered at once). Each DAG id is then compared
with what real Airflow 2.10.5 did (airflow_2_10_5_expected.json, measured as README.md says): the
run's state and every task instance's state, or the refused trigger.

What Slipstream cannot do yet is listed in KNOWN_IMPORT_GAPS and KNOWN_GAPS; those tests are
strict xfails, so one that starts passing fails the module until its entry is removed.

A triggerer runs beside the scheduler (deferrable sensors). ExternalTaskSensor's parent and child
are triggered with one logical date, as in the measurement. Two examples take far longer than the
module may (an hour, ten minutes: `waits` in the JSON): they are compared with the states Airflow's
run held while it waited, unless SLIPSTREAM_CONFORMANCE_LONG=1, which waits for their end.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from slipstream.api.app import create_app
from slipstream.config import Settings
from slipstream.dag_processing import process_all
from slipstream.dates import utcnow
from slipstream.scheduler.loop import SchedulerThread
from slipstream.scheduler.triggerer import TriggererThread
from slipstream.storage.db import get_engine, session_scope
from slipstream.storage.migrations.runner import upgrade
from slipstream.storage.models import DagModel, DagRun, TaskInstance
from tests.conformance.airflow_wheel import AIRFLOW_VERSION, ExamplesUnavailable, example_dags_folder
from tests.conformance.expectations import allowed_outcomes, load_expected
from tests.databases import sqlite_url

API = "/api/experimental"
FINISHED = ("success", "failed")
EXPECTED = load_expected()
DAG_IDS = sorted(EXPECTED)
# SLIPSTREAM_CONFORMANCE_LONG=1: wait for the runs that wait an hour in Airflow too (see `waits`).
LONG = os.environ.get("SLIPSTREAM_CONFORMANCE_LONG") == "1"
WAITING = set() if LONG else {dag_id for dag_id in DAG_IDS if "waits" in EXPECTED[dag_id]}
# The slowest example otherwise (example_sla_dag) sleeps 50 s in two tasks one after the other.
RUNS_DEADLINE = 150.0
if LONG:
    RUNS_DEADLINE += max(entry.get("waits", {}).get("seconds", 0) for entry in EXPECTED.values())
# The first test also waits for the engine fixture: a first-time wheel download and every run.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(RUNS_DEADLINE + 450)]
# Triggered with one logical date, so ExternalTaskSensor finds the parent's run.
SHARED_LOGICAL_DATE = {dag_id for dag_id in DAG_IDS if "trigger_with_shared_logical_date" in EXPECTED[dag_id]}

# dag_id -> what Slipstream lacks for its file to import, e.g.
#     "example_xcom": "TaskFlow: airflow.decorators (@dag, @task)",
# Its import test is then a strict xfail: remove the entry once the file imports. Empty: with
# main's TaskFlow, XCom, branching, task groups, Params and callbacks every file imports.
KNOWN_IMPORT_GAPS: dict[str, str] = {}

# dag_id -> what Slipstream lacks for its run to end as in Airflow (same rules). Empty: every run
# ends as in Airflow 2.10.5.
KNOWN_GAPS: dict[str, str] = {}

# dag_id -> why the kinds of extra runs (scheduled, dataset-triggered, TriggerDagRunOperator's) differ.
KNOWN_OTHER_RUNS_GAPS: dict[str, str] = {}


def _with_gap(dag_id: str, gaps: dict[str, str]) -> Any:
    if dag_id in gaps:
        return pytest.param(dag_id, marks=pytest.mark.xfail(strict=True, reason=gaps[dag_id]))
    return dag_id


@dataclass
class Trigger:
    status: int
    body: Any
    at: datetime


@dataclass
class RunResult:
    state: str | None
    logical_date: datetime
    task_states: dict[str, str | None]
    finished_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"run_state": self.state, "task_states": self.task_states}


@dataclass
class Conformance:
    """What the engine did with the examples: import errors, stored DAGs, triggers, runs."""

    examples: Path
    import_errors: dict[str, str] = field(default_factory=dict)  # file name -> error text
    stored_dag_ids: set[str] = field(default_factory=set)
    triggers: dict[str, Trigger] = field(default_factory=dict)
    runs: dict[str, RunResult] = field(default_factory=dict)
    runs_stored: dict[str, int] = field(default_factory=dict)  # dag_id -> how many runs the DB holds
    other_run_types: dict[str, set[str]] = field(default_factory=dict)  # dag_id -> kinds of runs not triggered here
    mapped_task_instance: dict[str, Any] = field(default_factory=dict)  # task_id -> experimental endpoint's answer

    def import_error(self, dag_id: str) -> str | None:
        return self.import_errors.get(EXPECTED[dag_id]["file"])


def _settings(home: Path, database_url: str) -> Settings:
    return Settings(
        home=home,
        database_url=database_url,
        dags_folder=home / "dags",
        load_examples=False,
        auth_backend="default",
        parallelism=32,
        scheduler_loop_interval=0.02,
    )


def _copy_examples(examples: Path, dags_folder: Path) -> None:
    dags_folder.mkdir(parents=True, exist_ok=True)
    for name in sorted({entry["file"] for entry in EXPECTED.values()}):
        shutil.copyfile(examples / name, dags_folder / name)


def _aware(moment: datetime) -> datetime:
    """A logical date read back from SQLite is naive: it is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _task_key(ti: TaskInstance) -> str:
    """As in the JSON: `task_id` for an unmapped task, `task_id[map_index]` for a mapped one's instances."""
    return ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"


def _read_runs(settings: Settings, run_ids: dict[str, str]) -> dict[str, RunResult]:
    results: dict[str, RunResult] = {}
    with session_scope(settings.database_url, write=False) as db:
        for dag_id, run_id in run_ids.items():
            run = db.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
            tis = db.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id))
            results[dag_id] = RunResult(
                state=run.state,
                logical_date=run.execution_date,
                task_states={_task_key(ti): ti.state for ti in tis},
                finished_at=run.end_date,
            )
    return results


def _settled(dag_id: str, result: RunResult, triggered_at: datetime) -> bool:
    """Ended, or (for a run that waits long in Airflow too) in the state Airflow's run waited in."""
    if result.state in FINISHED:
        return True
    if dag_id not in WAITING:
        return False
    allowed = allowed_outcomes(
        EXPECTED[dag_id], logical_date=result.logical_date, triggered_at=triggered_at, finished_at=utcnow()
    )
    return any(outcome.matches_while_waiting(result.as_dict()) for outcome in allowed)


def _wait_for_runs(settings: Settings, run_ids: dict[str, str], triggers: dict[str, Trigger]) -> dict[str, RunResult]:
    deadline = time.monotonic() + RUNS_DEADLINE
    while True:
        results = _read_runs(settings, run_ids)
        settled = all(_settled(dag_id, result, triggers[dag_id].at) for dag_id, result in results.items())
        if settled or time.monotonic() > deadline:
            return results
        time.sleep(0.5)


@pytest.fixture(scope="module")
def conformance(tmp_path_factory, postgres_databases) -> Iterator[Conformance]:
    try:
        examples = example_dags_folder()
    except ExamplesUnavailable as exc:
        pytest.skip(f"Airflow {AIRFLOW_VERSION}'s example DAGs are not available: {exc}")
    home = tmp_path_factory.mktemp("airflow_examples")
    database_url = postgres_databases.create() if postgres_databases else sqlite_url(home)
    settings = _settings(home, database_url)
    upgrade(settings.database_url, default_pool_slots=settings.default_pool_slots)
    _copy_examples(examples, settings.dags_folder)
    result = Conformance(examples=examples)

    report = process_all(settings)
    result.import_errors = {Path(path).name: error for path, error in report.import_errors.items()}
    with session_scope(settings.database_url, write=False) as db:
        result.stored_dag_ids = set(db.scalars(select(DagModel.dag_id)))

    # example_bash_decorator writes under $AIRFLOW_HOME, set as in the Airflow the answers come from.
    saved_airflow_home = os.environ.get("AIRFLOW_HOME")
    os.environ["AIRFLOW_HOME"] = str(home / "airflow_home")
    scheduler = SchedulerThread(settings)
    scheduler.start()
    triggerer = TriggererThread(settings, interval=0.2)
    triggerer.start()
    try:
        client = create_app(settings).test_client()
        run_ids: dict[str, str] = {}
        shared_logical_date = utcnow().replace(microsecond=0).isoformat()
        for dag_id in DAG_IDS:
            at = utcnow()
            body = {"execution_date": shared_logical_date} if dag_id in SHARED_LOGICAL_DATE else {}
            response = client.post(f"{API}/dags/{dag_id}/dag_runs", json=body)
            body = response.json() if response.headers.get("content-type", "").startswith("application/json") else None
            result.triggers[dag_id] = Trigger(status=response.status_code, body=body or response.text, at=at)
            if response.status_code == 200:
                run_ids[dag_id] = body["run_id"]
        result.runs = _wait_for_runs(settings, run_ids, result.triggers)
        with session_scope(settings.database_url, write=False) as db:
            result.runs_stored = dict(db.execute(select(DagRun.dag_id, func.count()).group_by(DagRun.dag_id)).all())
            for dag_id, run_id, run_type in db.execute(select(DagRun.dag_id, DagRun.run_id, DagRun.run_type)):
                if run_ids.get(dag_id) != run_id:
                    result.other_run_types.setdefault(dag_id, set()).add(run_type)
        mapped = next((d for d in DAG_IDS if "experimental_task_instance" in EXPECTED[d]), None)
        if mapped in result.runs:
            logical_date = quote(_aware(result.runs[mapped].logical_date).isoformat())
            for task_id in EXPECTED[mapped]["experimental_task_instance"]:
                response = client.get(f"{API}/dags/{mapped}/dag_runs/{logical_date}/tasks/{task_id}")
                result.mapped_task_instance[task_id] = {"status": response.status_code, "body": response.json()}
        yield result
    finally:
        triggerer.stop(timeout=30)
        scheduler.stop(timeout=30)
        if saved_airflow_home is None:
            os.environ.pop("AIRFLOW_HOME", None)
        else:
            os.environ["AIRFLOW_HOME"] = saved_airflow_home
        get_engine(settings.database_url).dispose()
        if postgres_databases:
            postgres_databases.drop(database_url)


def _fail_on_import_error(conformance: Conformance, dag_id: str) -> None:
    error = conformance.import_error(dag_id)
    if error is not None:
        pytest.fail(f"{EXPECTED[dag_id]['file']} does not import:\n{error}", pytrace=False)


@pytest.mark.parametrize("dag_id", [_with_gap(dag_id, KNOWN_IMPORT_GAPS) for dag_id in DAG_IDS])
def test_example_file_imports(conformance, dag_id):
    _fail_on_import_error(conformance, dag_id)
    assert dag_id in conformance.stored_dag_ids, (
        f"{EXPECTED[dag_id]['file']} imported without an error but the dag processor stored no DAG {dag_id!r}"
    )


@pytest.mark.parametrize("dag_id", [_with_gap(dag_id, KNOWN_GAPS) for dag_id in DAG_IDS])
def test_triggered_run_ends_as_in_airflow(conformance, dag_id):
    expected = EXPECTED[dag_id]
    _fail_on_import_error(conformance, dag_id)
    trigger = conformance.triggers[dag_id]

    if expected["trigger"] == "400":
        refused = f"Airflow refuses this trigger ({expected['notes']})"
        assert trigger.status == 400, f"{refused}; Slipstream answered {trigger.status}: {trigger.body}"
        assert expected["refused_param"] in str(trigger.body), "the 400 does not name the param"
        assert conformance.runs_stored.get(dag_id, 0) == 0, "a refused trigger stored a run"
        return

    assert trigger.status == 200, f"the trigger answered {trigger.status}: {trigger.body}"
    run = conformance.runs[dag_id]
    actual = run.as_dict()
    allowed = allowed_outcomes(
        expected, logical_date=run.logical_date, triggered_at=trigger.at, finished_at=run.finished_at or utcnow()
    )
    ends_at_once = [outcome.as_dict() for outcome in allowed if outcome.waits is None]
    if dag_id in WAITING and not (run.state in FINISHED and ends_at_once):
        # Airflow's run took expected["waits"]["seconds"]: compare with how it waited.
        assert run.state not in FINISHED, (
            f"Airflow's run waited {expected['waits']['seconds']} s; this one ended already: {actual}"
        )
        waiting = [outcome.while_waiting() for outcome in allowed if outcome.waits is not None]
        assert any(outcome.matches_while_waiting(actual) for outcome in allowed), (
            f"after {RUNS_DEADLINE:.0f} s {actual}; Airflow's run while it waited: {waiting}"
        )
        return
    assert run.state in FINISHED, f"the run did not finish within {RUNS_DEADLINE:.0f} s: {actual}"
    finished = [outcome.as_dict() for outcome in allowed] if dag_id not in WAITING else ends_at_once
    if len(finished) == 1:
        assert actual == finished[0]
    else:  # the clock crossed a boundary while the run ran: either side is Airflow's answer
        assert actual in finished


OTHER_RUNS_IDS = [dag_id for dag_id in DAG_IDS if "other_run_types" in EXPECTED[dag_id]]


@pytest.mark.parametrize("dag_id", [_with_gap(dag_id, KNOWN_OTHER_RUNS_GAPS) for dag_id in OTHER_RUNS_IDS])
def test_other_runs_are_the_kinds_airflow_made(conformance, dag_id):
    """Besides the run triggered here, the kinds of run Airflow's scheduler made for this DAG while
    the examples ran: `scheduled` (its timetable), `dataset_triggered` (datasets other examples
    updated), `manual` (example_trigger_controller_dag's TriggerDagRunOperator). Counts depend on
    timing (events a dataset run gathers), the kinds do not."""
    _fail_on_import_error(conformance, dag_id)
    expected = set(EXPECTED[dag_id]["other_run_types"])
    assert conformance.other_run_types.get(dag_id, set()) == expected


MAPPED_TI_IDS = [dag_id for dag_id in DAG_IDS if "experimental_task_instance" in EXPECTED[dag_id]]


@pytest.mark.parametrize("dag_id", MAPPED_TI_IDS)
def test_experimental_task_instance_endpoint_answers_for_a_mapped_task_as_airflow(conformance, dag_id):
    """GET /api/experimental/dags/<dag_id>/dag_runs/<date>/tasks/<task_id> reads map index -1:
    Airflow answers 404 for a mapped task and 200 for its unmapped reducer, after the run."""
    _fail_on_import_error(conformance, dag_id)
    logical_date = _aware(conformance.runs[dag_id].logical_date)
    for task_id, measured in EXPECTED[dag_id]["experimental_task_instance"].items():
        answer = conformance.mapped_task_instance[task_id]
        assert answer["status"] == measured["status"], (task_id, answer)
        if measured["error"] is not None:
            # Slipstream's errors carry Airflow's `error` string beside RFC 9457 fields (DESIGN.md).
            assert answer["body"]["error"] == measured["error"].format(logical_date=logical_date), answer
        else:
            assert answer["body"]["task_id"] == task_id
            assert answer["body"]["state"] == measured["state"]

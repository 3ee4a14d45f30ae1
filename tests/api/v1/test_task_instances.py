"""/api/v1 task instances, on runs that really ran (tests/api/v1/task_runs.py), compared with Airflow 2.10.5's
answers (the golden transcripts) field by field where the scenario is the same."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from slipstream.scheduler.loop import SchedulerThread
from slipstream.services.dag_runs import TriggerRequest, trigger_dag_run
from slipstream.storage.db import session_scope
from slipstream.storage.models import DagModel, DagRun, TaskInstance, TaskInstanceHistory
from tests.api.v1 import task_runs
from tests.api.v1.golden import assert_matches_golden, exchange
from tests.api.v1.task_runs import V1
from tests.engine.support import wait_for_run

# The fixtures of a database where the DAGs really ran.
ran_template, ran_settings, ran = task_runs.ran_template, task_runs.ran_settings, task_runs.ran

BASH = f"{V1}/dags/example_bash_operator/dagRuns/golden_bash_1/taskInstances"
MAPPED = f"{V1}/dags/example_dynamic_task_mapping/dagRuns/golden_mapping_1/taskInstances"
DOCS = "https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html#section/Errors/"


def golden_body(seq: int):
    return exchange(seq)["response"]["body"]


def golden_request(seq: int):
    return exchange(seq)["request"]


def replay(client, seq: int, **headers):
    """Send the recorded request of golden exchange `seq`; assert the same status."""
    request = golden_request(seq)
    response = client.request(
        request["method"], request["url"], json=request["body"], headers=headers or request.get("headers")
    )
    assert response.status_code == exchange(seq)["response"]["status"], response.text
    return response


def in_list() -> tuple[str, ...]:
    """The values of a list's task instances that differ from run to run."""
    fields = ("duration", "end_date", "hostname", "start_date", "pid", "queued_when")
    return tuple(f"$.task_instances[*].{field}" for field in fields)


# -- reading ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seq", [158, 159])
def test_a_task_instance_is_airflows_schema(ran, seq):
    assert_matches_golden(replay(ran, seq).json(), seq)


@pytest.mark.parametrize("seq", [165, 166, 167, 168, 171, 172, 173])
def test_unknown_or_mapped_task_instances_are_airflows_404s(ran, seq):
    response = replay(ran, seq)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == golden_body(seq)


@pytest.mark.parametrize("seq", [169, 170])
def test_a_mapped_task_instance_by_its_index(ran, seq):
    assert_matches_golden(replay(ran, seq).json(), seq)


def in_airflows_order(body: dict, seq: int) -> dict:
    """Our instances in the order of Airflow's answer (where its SQLite plan followed an index)."""
    order = [(ti["dag_run_id"], ti["task_id"], ti["map_index"]) for ti in golden_body(seq)["task_instances"]]
    key = {item: index for index, item in enumerate(order)}
    ours = sorted(
        body["task_instances"], key=lambda ti: key.get((ti["dag_run_id"], ti["task_id"], ti["map_index"]), 999)
    )
    return {**body, "task_instances": ours}


@pytest.mark.parametrize("seq", [134, 135, 136, 139, 140, 142, 143])
def test_listing_a_runs_task_instances_with_filters(ran, seq):
    body = replay(ran, seq).json()
    assert_matches_golden(in_airflows_order(body, seq), seq, also_volatile=in_list())


def test_unknown_state_values_are_a_400_naming_them(ran):
    # Airflow answers 500 (an unhandled ValueError): here a 400 says which value is wrong.
    response = ran.get(BASH, params={"state": "bogus"})
    assert response.status_code == 400
    assert response.json()["detail"] == "'bogus' is not a valid TaskInstanceState"


@pytest.mark.parametrize("seq", [137, 144, 145, 146, 147])
def test_list_edge_cases_answer_as_airflow(ran, seq):
    assert replay(ran, seq).json() == golden_body(seq)


def test_start_date_and_duration_filters_select_on_the_real_values(ran):
    everything = ran.get(BASH).json()["task_instances"]
    runme_0 = next(ti for ti in everything if ti["task_id"] == "runme_0")
    later = ran.get(BASH, params={"start_date_gte": runme_0["start_date"]}).json()
    assert {ti["task_id"] for ti in later["task_instances"]} == {
        ti["task_id"] for ti in everything if ti["start_date"] and ti["start_date"] >= runme_0["start_date"]
    }
    assert later["total_entries"] == len(later["task_instances"])
    slow = ran.get(BASH, params={"duration_gte": 1}).json()
    assert {ti["task_id"] for ti in slow["task_instances"]} == {"runme_0", "runme_1", "runme_2"}  # each sleeps 1 s
    assert ran.get(BASH, params={"updated_at_lte": "2000-01-01T00:00:00Z"}).json()["total_entries"] == 0


def test_tilde_lists_every_run_and_every_dag(ran):
    skipped = ran.get(f"{V1}/dags/example_bash_operator/dagRuns/~/taskInstances", params={"state": "skipped"}).json()
    # Both runs, as in Airflow's recording: golden_bash_1 and the one the @daily schedule added.
    assert sorted(ti["task_id"] for ti in skipped["task_instances"]) == sorted(
        ti["task_id"] for ti in golden_body(148)["task_instances"]
    )
    assert {ti["dag_run_id"] for ti in skipped["task_instances"]} == {
        "golden_bash_1",
        next(r for r in {ti["dag_run_id"] for ti in skipped["task_instances"]} if r.startswith("scheduled__")),
    }
    every = ran.get(f"{V1}/dags/~/dagRuns/~/taskInstances", params={"limit": 3}).json()
    assert len(every["task_instances"]) == 3
    # 7 bash + 4 mapped (placeholder-free: 3 add_one + sum_it) + the taskflow DAG's + retry_once's 1
    assert (
        every["total_entries"]
        == ran.get(f"{V1}/dags/~/dagRuns/~/taskInstances", params={"limit": 100}).json()["total_entries"]
    )
    assert {ti["dag_id"] for ti in ran.get(f"{V1}/dags/~/dagRuns/~/taskInstances").json()["task_instances"]} == {
        "example_bash_operator",
        "example_dynamic_task_mapping",
        "example_taskflow",
        "retry_once",
    }


@pytest.mark.parametrize("seq", [150, 154, 155, 156, 157])
def test_the_batch_list(ran, seq):
    assert_matches_golden(replay(ran, seq).json(), seq, also_volatile=in_list())


def test_the_batch_list_filters_states_across_dags(ran):
    body = ran.post(f"{V1}/dags/~/dagRuns/~/taskInstances/list", json={"state": ["skipped"], "page_limit": 2}).json()
    everything = ran.get(f"{V1}/dags/~/dagRuns/~/taskInstances").json()["task_instances"]
    assert body["total_entries"] == sum(ti["state"] == "skipped" for ti in everything) > 2
    assert len(body["task_instances"]) == 2
    assert all(ti["state"] == "skipped" for ti in body["task_instances"])
    assert {ti["dag_id"] for ti in everything if ti["state"] == "skipped"} == {
        "example_bash_operator",
        "example_taskflow",
    }
    nothing = ran.post(f"{V1}/dags/~/dagRuns/~/taskInstances/list", json={"state": [None]}).json()
    assert nothing == {"task_instances": [], "total_entries": 0}


@pytest.mark.parametrize("field", ["dag_ids", "dag_run_ids", "task_ids", "pool", "queue", "executor"])
def test_a_nul_in_a_batch_filter_matches_nothing(ran, field):
    # PostgreSQL refuses a NUL in a parameter (it was a 500 there); no stored value holds one.
    url = f"{V1}/dags/~/dagRuns/~/taskInstances/list"
    only_nul = ran.post(url, json={field: ["a\x00b"]})
    assert only_nul.status_code == 200, only_nul.text
    assert only_nul.json() == {"task_instances": [], "total_entries": 0}

    everything = ran.post(url, json={}).json()["task_instances"]
    key = {"dag_ids": "dag_id", "dag_run_ids": "dag_run_id", "task_ids": "task_id"}.get(field, field)
    stored = next((ti[key] for ti in everything if ti[key] is not None), None)
    if stored is None:  # no instance names an executor: the NUL-only filter above is the whole check
        return
    beside_a_real_one = ran.post(url, json={field: [stored, "a\x00b"]}).json()
    assert beside_a_real_one == ran.post(url, json={field: [stored]}).json()
    assert beside_a_real_one["total_entries"] > 0


@pytest.mark.parametrize("seq", [174, 175, 176])
def test_listing_a_mapped_tasks_instances(ran, seq):
    assert_matches_golden(replay(ran, seq).json(), seq)


@pytest.mark.parametrize("seq", [177, 178, 179, 180, 181])
def test_list_mapped_errors_as_airflow(ran, seq):
    assert replay(ran, seq).json() == golden_body(seq)


@pytest.mark.parametrize("seq", [182, 183, 184, 185, 186, 187, 188])
def test_tries_of_a_task_instance(ran, seq):
    assert_matches_golden(replay(ran, seq).json(), seq)


def test_a_retried_try_is_in_the_history_and_both_tries_are_listed(ran, ran_settings):
    tries = ran.get(f"{V1}/dags/retry_once/dagRuns/retry_1/taskInstances/flaky/tries").json()
    assert [(t["try_number"], t["state"]) for t in tries["task_instances"]] == [(1, "failed"), (2, "success")]
    assert tries["total_entries"] == 2
    first = ran.get(f"{V1}/dags/retry_once/dagRuns/retry_1/taskInstances/flaky/tries/1").json()
    assert first == tries["task_instances"][0]
    assert set(first) == set(golden_body(183))  # Airflow's reduced schema: no note, no execution_date
    assert first["end_date"] is not None and first["duration"] is not None
    with session_scope(ran_settings.database_url, write=False) as session:
        rows = session.scalars(select(TaskInstanceHistory).where(TaskInstanceHistory.dag_id == "retry_once")).all()
        assert [(r.try_number, r.state) for r in rows] == [(1, "failed")]


@pytest.mark.parametrize("seq", [189, 190, 191, 192])
def test_dependencies_of_finished_and_unknown_task_instances(ran, seq):
    assert replay(ran, seq).json() == golden_body(seq)


def _queued_run(settings, run_id: str, when: datetime, *, paused: bool = True) -> None:
    """A run of example_bash_operator the scheduler never saw (no scheduler runs in these tests)."""
    with session_scope(settings.database_url) as session:
        session.execute(update(DagModel).where(DagModel.dag_id == "example_bash_operator").values(is_paused=paused))
        trigger_dag_run(
            session,
            "example_bash_operator",
            TriggerRequest(run_id=run_id, conf={}, execution_date=when, replace_microseconds=False),
        )


def test_dependencies_of_a_task_instance_that_was_never_scheduled(ran, ran_settings):
    _queued_run(ran_settings, "golden_ti_state_run", datetime(2024, 2, 2, tzinfo=UTC))
    for seq in (306, 307):
        assert replay(ran, seq).json() == golden_body(seq)


def test_set_note(ran):
    for seq in (196, 197, 198):
        assert_matches_golden(replay(ran, seq).json(), seq)
    assert ran.get(f"{BASH}/runme_0").json()["note"] == "golden TI note, updated"
    for seq in (199, 200, 201, 202):
        assert replay(ran, seq).json() == golden_body(seq)
    removed = ran.patch(f"{BASH}/runme_0/setNote", json={"note": None})
    assert removed.status_code == 200 and removed.json()["note"] is None


def test_patch_state_dry_run_changes_nothing(ran):
    before = ran.get(f"{BASH}/runme_0").json()
    for seq in (203, 210):
        assert replay(ran, seq).json() == golden_body(seq)
    assert ran.get(f"{BASH}/runme_0").json() == before
    for seq in (205, 206, 207, 208, 209):
        assert replay(ran, seq).json() == golden_body(seq)


def test_patch_state_for_real_answers_an_empty_object_and_marks_it(ran, ran_settings):
    _queued_run(ran_settings, "golden_ti_state_run", datetime(2024, 2, 2, tzinfo=UTC))
    assert_matches_golden(replay(ran, 308).json(), 308)
    assert replay(ran, 309).json() == {}
    marked = ran.get(f"{V1}/dags/example_bash_operator/dagRuns/golden_ti_state_run/taskInstances/runme_0").json()
    assert_matches_golden(marked, 310)
    assert marked["start_date"] == marked["end_date"] and marked["duration"] == 0.0

    assert_matches_golden(replay(ran, 311).json(), 311)
    states = {
        ti["task_id"]: ti["state"]
        for ti in ran.get(f"{V1}/dags/example_bash_operator/dagRuns/golden_ti_state_run/taskInstances").json()[
            "task_instances"
        ]
    }
    assert states == {t["task_id"]: t["state"] for t in golden_body(312)["task_instances"]}


@pytest.mark.parametrize("seq", [211, 212, 214, 215, 216, 217, 218, 219, 220, 221])
def test_clear_task_instances_dry_runs_and_errors(ran, seq):
    assert replay(ran, seq).json() == golden_body(seq)


def test_clear_by_date_range(ran):
    assert replay(ran, 213).json() == golden_body(213)


@pytest.mark.parametrize("seq", [222, 223, 224, 225, 226, 227, 228, 229, 230, 231])
def test_update_task_instances_state_dry_runs_and_errors(ran, seq):
    assert replay(ran, seq).json() == golden_body(seq)


def test_clearing_keeps_the_try_and_its_history_then_the_task_runs_again(ran, ran_settings):
    """Airflow's scenario 274-283 on our taskflow DAG: clear one finished task for real with
    reset_dag_runs, see it waiting (try kept, max_tries bumped), run the scheduler, see try 2."""
    base = f"{V1}/dags/example_taskflow/dagRuns/golden_taskflow_1/taskInstances/load"
    before = ran.get(base).json()
    cleared = ran.post(
        f"{V1}/dags/example_taskflow/clearTaskInstances",
        json={
            "dry_run": False,
            "dag_run_id": "golden_taskflow_1",
            "task_ids": ["load"],
            "only_failed": False,
            "reset_dag_runs": True,
        },
    )
    assert cleared.json() == {
        "task_instances": [
            {
                "dag_id": "example_taskflow",
                "dag_run_id": "golden_taskflow_1",
                "execution_date": "2024-01-01T00:00:00+00:00",
                "task_id": "load",
            }
        ]
    }
    waiting = ran.get(base).json()
    assert waiting["state"] is None and waiting["try_number"] == 1 and waiting["max_tries"] == before["max_tries"] + 1
    assert waiting["start_date"] == before["start_date"] and waiting["end_date"] == before["end_date"]
    assert [
        ti["task_id"] for ti in ran.get(base.rsplit("/", 1)[0], params={"state": "none"}).json()["task_instances"]
    ] == ["load"]
    with session_scope(ran_settings.database_url, write=False) as session:
        run_state = session.scalar(
            select(DagRun.state).where(DagRun.dag_id == "example_taskflow", DagRun.run_id == "golden_taskflow_1")
        )
    assert run_state == "queued"

    scheduler = SchedulerThread(ran_settings.with_overrides(scheduler_loop_interval=0.02, task_heartbeat_interval=0.2))
    scheduler.start()
    try:
        assert wait_for_run(ran_settings, "example_taskflow", "golden_taskflow_1", timeout=60) == "success"
    finally:
        scheduler.stop(timeout=30)

    tries = ran.get(f"{base}/tries").json()
    assert [(t["try_number"], t["state"], t["max_tries"]) for t in tries["task_instances"]] == [
        (1, "success", 0),
        (2, "success", 1),
    ]
    assert ran.get(f"{base}/tries/1").json() == tries["task_instances"][0]
    assert ran.get(f"{base}/tries/2").json() == tries["task_instances"][1]
    assert ran.get(base).json()["try_number"] == 2
    # Both tries' logs are there: try 1's from the history, try 2's from the current row.
    for try_number in (1, 2):
        log = ran.get(f"{base}/logs/{try_number}", headers={"Accept": "text/plain"})
        assert f"Starting attempt {try_number} of" in log.text


def test_clearing_failed_instances_only_by_default(ran, ran_settings):
    with session_scope(ran_settings.database_url) as session:
        session.execute(
            update(TaskInstance)
            .where(TaskInstance.dag_id == "example_bash_operator", TaskInstance.task_id == "runme_1")
            .values(state="failed")
        )
    body = ran.post(f"{V1}/dags/example_bash_operator/clearTaskInstances", json={"dag_run_id": "golden_bash_1"}).json()
    assert [ti["task_id"] for ti in body["task_instances"]] == ["runme_1"]
    # A dry run: nothing changed.
    assert ran.get(f"{BASH}/runme_1").json()["state"] == "failed"
    ran.post(
        f"{V1}/dags/example_bash_operator/clearTaskInstances", json={"dag_run_id": "golden_bash_1", "dry_run": False}
    )
    assert ran.get(f"{BASH}/runme_1").json()["state"] is None
    assert [t["state"] for t in ran.get(f"{BASH}/runme_1/tries").json()["task_instances"]] == ["failed", None]


def test_clear_after_marking_on_a_paused_dag(ran, ran_settings):
    _queued_run(ran_settings, "golden_ti_state_run", datetime(2024, 2, 2, tzinfo=UTC))
    replay(ran, 309)
    assert replay(ran, 313).json() == golden_body(313)
    after = ran.get(f"{V1}/dags/example_bash_operator/dagRuns/golden_ti_state_run/taskInstances/runme_0").json()
    assert after["state"] is None and after["try_number"] == 0


def test_marking_success_resumes_failed_downstream_instances(ran, ran_settings):
    with session_scope(ran_settings.database_url) as session:
        session.execute(
            update(TaskInstance)
            .where(TaskInstance.dag_id == "example_bash_operator", TaskInstance.run_id == "golden_bash_1")
            .where(TaskInstance.task_id.in_(["runme_0", "run_after_loop"]))
            .values(state="failed")
        )
    assert ran.patch(f"{BASH}/runme_0", json={"dry_run": False, "new_state": "success"}).json() == {}
    assert ran.get(f"{BASH}/runme_0").json()["state"] == "success"
    # run_after_loop was failed downstream: cleared so that it runs again, and its run queued.
    assert ran.get(f"{BASH}/run_after_loop").json()["state"] is None
    with session_scope(ran_settings.database_url, write=False) as session:
        assert session.scalar(select(DagRun.state).where(DagRun.run_id == "golden_bash_1")) == "queued"


def test_a_mapped_task_instance_is_marked_by_its_index_only(ran):
    assert ran.patch(f"{MAPPED}/add_one/1", json={"dry_run": False, "new_state": "failed"}).json() == {}
    states = [ti["state"] for ti in ran.get(f"{MAPPED}/add_one/listMapped").json()["task_instances"]]
    assert states == ["success", "failed", "success"]


def test_wrong_body_types_are_connexions_400s(ran):
    response = ran.patch(f"{BASH}/runme_0", json={"new_state": "failed", "dry_run": "yes"})
    assert response.status_code == 400
    assert response.json()["type"] == DOCS + "BadRequest"
    bogus = ran.post(f"{V1}/dags/example_bash_operator/clearTaskInstances", json={"bogus": 1})
    assert bogus.json()["detail"] == "{'bogus': ['Unknown field.']}"
    bad_date = ran.post(f"{V1}/dags/example_bash_operator/clearTaskInstances", json={"start_date": "soon"})
    assert bad_date.status_code == 400 and bad_date.json()["detail"] == "{'start_date': ['Not a valid datetime.']}"


def test_numbers_too_large_for_the_database_name_nothing(ran):
    huge = 10**30
    assert ran.get(f"{MAPPED}/add_one/{huge}").status_code == 404
    assert ran.get(f"{MAPPED}/add_one/{huge}/tries").status_code == 404
    assert ran.get(f"{BASH}/runme_0/tries/{huge}").status_code == 404
    assert ran.get(f"{BASH}/runme_0/logs/{huge}").status_code == 404
    assert ran.get(f"{BASH}/runme_0/logs/1", params={"map_index": huge}).status_code == 404
    assert ran.get(BASH, params={"offset": huge}).json() == {"task_instances": [], "total_entries": 7}
    batch = ran.post(f"{V1}/dags/~/dagRuns/~/taskInstances/list", json={"page_offset": huge, "page_limit": huge})
    assert batch.status_code == 200 and batch.json()["task_instances"] == []

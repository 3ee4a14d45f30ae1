"""/api/v1/dags/{dag_id}/dagRuns...: list, batch list, get, trigger, state, clear, note, delete, upstream
dataset events; compared with Airflow 2.10.5's answers where the scenario can be replayed here."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from slipstream.storage.db import session_scope
from slipstream.storage.models import AuditLog, DagRun, TaskInstance
from tests.api.v1.golden import assert_matches_golden, exchange

V1 = "/api/v1"
BASH = "example_bash_operator"
RUNS = f"{V1}/dags/{BASH}/dagRuns"


def replay(client, seq: int, *, path: str | None = None):
    """Send golden request `seq` (optionally to another path) and return the response."""
    request = exchange(seq)["request"]
    body = request["body"]
    kwargs = {"json": body} if isinstance(body, (dict, list)) else {}
    if isinstance(body, str) and body:
        kwargs = {"content": body, "headers": request.get("headers", {})}
    url = path or request["url"]
    return client.request(request["method"], url, **kwargs)


def assert_replays(client, seq: int, *, also_volatile: tuple[str, ...] = (), path: str | None = None):
    response = replay(client, seq, path=path)
    expected = exchange(seq)["response"]
    assert response.status_code == expected["status"], response.text
    if response.status_code != 204:
        assert_matches_golden(response.json(), seq, also_volatile=also_volatile)
    return response


def ti_rows(settings, run_id: str) -> dict[str, TaskInstance]:
    with session_scope(settings.database_url, write=False) as db:
        rows = db.scalars(select(TaskInstance).where(TaskInstance.dag_id == BASH, TaskInstance.run_id == run_id))
        return {ti.task_id: ti for ti in rows}


def stored_run(settings, run_id: str) -> DagRun | None:
    with session_scope(settings.database_url, write=False) as db:
        return db.scalar(select(DagRun).where(DagRun.dag_id == BASH, DagRun.run_id == run_id))


@pytest.fixture
def golden_run(client):
    """golden_bash_1 as Airflow's recorder triggered it (seq 57)."""
    assert_replays(client, 57)


class TestTrigger:
    def test_a_trigger_answers_the_queued_manual_run_as_airflow_does(self, client, app_settings):
        assert_replays(client, 57)
        run = stored_run(app_settings, "golden_bash_1")
        assert (run.state, run.run_type, run.note, run.external_trigger) == ("queued", "manual", "golden run", True)
        assert run.conf == {"message": "hello from the golden recorder", "n": 1}
        # The task instances exist from the start, as the experimental trigger makes them.
        assert len(ti_rows(app_settings, "golden_bash_1")) == 7

    def test_a_trigger_is_audited_as_the_experimental_apis_is(self, client, app_settings):
        client.post(RUNS, json={"dag_run_id": "audited", "logical_date": "2024-01-01T00:00:00Z"})
        with session_scope(app_settings.database_url, write=False) as db:
            entry = db.scalar(select(AuditLog).where(AuditLog.event == "dag_run.trigger"))
        assert (entry.dag_id, entry.target) == (BASH, "audited")
        assert entry.extra == {"run_id": "audited", "execution_date": "2024-01-01T00:00:00+00:00"}

    def test_the_z_suffix_and_the_deprecated_execution_date_are_the_logical_date(self, client):
        response = client.post(RUNS, json={"dag_run_id": "z", "logical_date": "2024-01-01T00:00:00Z"})
        assert response.json()["logical_date"] == "2024-01-01T00:00:00+00:00"
        response = client.post(RUNS, json={"dag_run_id": "old", "execution_date": "2024-02-01T00:00:00+00:00"})
        assert response.json()["logical_date"] == response.json()["execution_date"] == "2024-02-01T00:00:00+00:00"
        both = {"dag_run_id": "both", "logical_date": "2024-04-01T00:00:00+00:00"}
        response = client.post(RUNS, json={**both, "execution_date": both["logical_date"]})
        assert response.status_code == 200 and response.json()["dag_run_id"] == "both"

    def test_an_empty_body_triggers_now_with_microseconds_kept(self, client):
        before = datetime.now().astimezone()
        body = client.post(RUNS, json={}).json()
        when = datetime.fromisoformat(body["logical_date"])
        assert when >= before and body["dag_run_id"] == f"manual__{body['logical_date']}"
        assert_matches_golden(
            body,
            63,
            also_volatile=("$.dag_id", "$.data_interval_start", "$.data_interval_end"),
        )

    def test_an_explicit_data_interval_is_kept(self, client):
        response = client.post(RUNS, json=exchange(64)["request"]["body"])
        assert_matches_golden(response.json(), 64, also_volatile=("$.dag_id",))

    @pytest.mark.parametrize("seq", [66, 67])
    def test_a_duplicate_run_id_or_logical_date_is_airflows_409(self, client, golden_run, seq):
        assert_replays(client, seq)

    @pytest.mark.parametrize("seq", [68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 79, 83, 84])
    def test_bad_triggers_are_refused_as_airflow_refuses_them(self, client, app_settings, seq):
        assert_replays(client, seq)
        with session_scope(app_settings.database_url, write=False) as db:
            assert db.scalar(select(DagRun.id).where(DagRun.dag_id == BASH)) is None

    def test_a_note_over_1000_characters_is_refused(self, client):
        assert_replays(client, 80, path=RUNS)

    def test_a_run_id_outside_the_allowed_pattern_is_a_400_not_airflows_500(self, client):
        response = replay(client, 78)
        assert response.status_code == 400
        assert response.json()["detail"].startswith("The provided run ID 'golden bad/id' is invalid.")


class TestList:
    def test_the_list_of_a_dag_while_its_run_is_queued(self, client, golden_run):
        response = client.get(RUNS)
        assert_matches_golden(response.json(), 85)

    @pytest.mark.parametrize("seq", [89, 90, 92, 93, 94, 97, 98, 99, 102, 103, 106, 107, 109, 110])
    def test_filters_and_their_errors(self, client, golden_run, seq):
        # Airflow's golden_bash_1 had run to success by then.
        client.patch(f"{RUNS}/golden_bash_1", json={"state": "success"})
        response = replay(client, seq)
        expected = exchange(seq)["response"]
        assert response.status_code == expected["status"], response.text
        body = response.json()
        if seq == 106:  # one run here, two in Airflow's recording (its scheduler added one)
            body["total_entries"] = 2
        assert_matches_golden(body, seq)

    def test_state_date_order_and_paging(self, client):
        for n, state in ((1, "success"), (2, "failed"), (3, "queued")):
            client.post(RUNS, json={"dag_run_id": f"r{n}", "logical_date": f"2024-01-0{n}T00:00:00+00:00"})
            if state != "queued":
                client.patch(f"{RUNS}/r{n}", json={"state": state})
        ids = lambda q: [r["dag_run_id"] for r in client.get(f"{RUNS}?{q}").json()["dag_runs"]]  # noqa: E731
        assert ids("state=success&state=queued") == ["r1", "r3"]
        assert ids("order_by=-execution_date") == ["r3", "r2", "r1"]
        assert ids("execution_date_gte=2024-01-02T00:00:00Z&execution_date_lte=2024-01-02T00:00:00%2B00:00") == ["r2"]
        assert ids("end_date_gte=2000-01-01T00:00:00Z") == ["r1", "r2"]
        assert ids("order_by=dag_run_id&limit=1&offset=1") == ["r2"]
        assert client.get(f"{RUNS}?limit=1").json()["total_entries"] == 3
        assert set(ids("updated_at_gte=2000-01-01T00:00:00Z")) == {"r1", "r2", "r3"}
        fields = client.get(f"{RUNS}?fields=dag_run_id&fields=state&order_by=id").json()["dag_runs"]
        assert fields[0] == {"dag_run_id": "r1", "state": "success"}
        assert client.get(f"{RUNS}?fields=dag_run_id,note").json()["dag_runs"][0] == {"dag_run_id": "r1", "note": None}
        for column in ("id", "state", "dag_id", "start_date", "end_date", "updated_at", "external_trigger", "conf"):
            assert client.get(f"{RUNS}?order_by=-{column}").status_code == 200, column

    def test_the_tilde_lists_every_dags_runs(self, client):
        client.post(RUNS, json={"dag_run_id": "a", "logical_date": "2024-01-01T00:00:00+00:00"})
        client.post(f"{V1}/dags/example_pool/dagRuns", json={"dag_run_id": "b", "logical_date": "2024-01-02T00:00:00Z"})
        body = client.get(f"{V1}/dags/~/dagRuns?order_by=-execution_date&limit=3").json()
        assert [(r["dag_id"], r["dag_run_id"]) for r in body["dag_runs"]] == [("example_pool", "b"), (BASH, "a")]
        assert body["total_entries"] == 2

    def test_updated_at_follows_every_change(self, client, app_settings):
        client.post(RUNS, json={"dag_run_id": "u", "logical_date": "2024-01-01T00:00:00+00:00"})
        first = stored_run(app_settings, "u").updated_at
        client.patch(f"{RUNS}/u", json={"state": "failed"})
        second = stored_run(app_settings, "u").updated_at
        assert first is not None and second > first
        later = client.get(f"{RUNS}?updated_at_gte={second.isoformat().replace('+', '%2B')}").json()
        assert [r["dag_run_id"] for r in later["dag_runs"]] == ["u"]


class TestBatchList:
    @pytest.mark.parametrize("seq", [115, 116, 117, 118, 119, 120, 121, 122])
    def test_errors_and_empty_results(self, client, seq):
        assert_replays(client, seq)

    def test_dag_ids_states_dates_and_pages(self, client):
        client.post(RUNS, json={"dag_run_id": "a", "logical_date": "2024-01-01T00:00:00+00:00"})
        client.post(RUNS, json={"dag_run_id": "b", "logical_date": "2024-01-02T00:00:00+00:00"})
        client.post(f"{V1}/dags/example_pool/dagRuns", json={"dag_run_id": "c", "logical_date": "2024-01-01T00:00:00Z"})
        client.patch(f"{RUNS}/b", json={"state": "success"})
        listed = lambda body: client.post(f"{V1}/dags/~/dagRuns/list", json=body).json()  # noqa: E731
        assert listed({})["total_entries"] == 3
        assert [r["dag_run_id"] for r in listed({"dag_ids": [BASH], "order_by": "-dag_run_id"})["dag_runs"]] == [
            "b",
            "a",
        ]
        assert [r["dag_run_id"] for r in listed({"states": ["success"]})["dag_runs"]] == ["b"]
        window = {"execution_date_gte": "2024-01-01T00:00:00+00:00", "execution_date_lte": "2024-01-01T00:00:00Z"}
        page = listed({**window, "page_offset": 1, "page_limit": 1})
        assert page["total_entries"] == 2 and [r["dag_run_id"] for r in page["dag_runs"]] == ["c"]


class TestGet:
    def test_a_run_and_its_fields(self, client, golden_run):
        body = client.get(f"{RUNS}/golden_bash_1").json()
        assert_matches_golden(body, 57)
        assert_replays(client, 125)

    @pytest.mark.parametrize("seq", [126, 127])
    def test_unknown_runs_and_dags_are_404s(self, client, seq):
        assert_replays(client, seq)

    def test_an_unknown_field_names_the_single_schema(self, client, golden_run):
        response = client.get(f"{RUNS}/golden_bash_1?fields=bogus")
        assert response.status_code == 400
        assert response.json()["title"] == "DAGRunSchema error"


class TestNote:
    def test_set_and_read_a_note(self, client, golden_run, app_settings):
        response = replay(client, 128)
        assert response.status_code == 200
        # Airflow's run had executed by then; here it is still the queued run of seq 57, noted.
        expected = {**exchange(57)["response"]["body"], "note": "note set by setNote"}
        assert response.json() == expected
        assert stored_run(app_settings, "golden_bash_1").note == "note set by setNote"
        assert_replays(client, 133)

    @pytest.mark.parametrize("seq", [131, 132])
    def test_errors(self, client, golden_run, seq):
        assert_replays(client, seq)

    def test_a_null_note_and_an_empty_body_are_400s(self, client, golden_run):
        assert_replays(client, 129, path=f"{RUNS}/golden_bash_1/setNote")
        response = client.patch(f"{RUNS}/golden_bash_1/setNote", json={})
        assert response.status_code == 400  # Airflow: a 500 (KeyError)
        assert response.json()["detail"] == "'note' is a required property"


@pytest.fixture
def state_run(client):
    """golden_state_run (seq 284): queued, never executed."""
    assert_replays(client, 284)


class TestUpdateState:
    def test_success_marks_every_task_instance_success(self, client, state_run, app_settings):
        assert_replays(client, 285)
        tis = ti_rows(app_settings, "golden_state_run")
        assert {ti.state for ti in tis.values()} == {"success"}
        # Airflow's TaskInstance.set_state: never run, so started and ended at the mark, duration 0.
        for ti in tis.values():
            assert ti.start_date == ti.end_date and ti.duration == 0.0 and ti.try_number == 0
        assert stored_run(app_settings, "golden_state_run").end_date is not None

    def test_failed_then_queued(self, client, state_run, app_settings):
        assert_replays(client, 285)
        ended = stored_run(app_settings, "golden_state_run").end_date
        assert_replays(client, 287)
        # A finished run keeps its end date when it fails.
        assert stored_run(app_settings, "golden_state_run").end_date == ended
        assert_replays(client, 288)
        run = stored_run(app_settings, "golden_state_run")
        assert (run.state, run.start_date, run.end_date) == ("queued", None, None)

    def test_failed_skips_what_has_not_run_and_fails_what_runs(self, client, state_run, app_settings):
        with session_scope(app_settings.database_url) as db:
            for task_id, state in (("runme_0", "running"), ("runme_1", "success"), ("runme_2", "up_for_retry")):
                mine = (TaskInstance.run_id == "golden_state_run", TaskInstance.task_id == task_id)
                ti = db.scalar(select(TaskInstance).where(*mine))
                ti.state = state
        response = client.patch(f"{RUNS}/golden_state_run", json={"state": "failed"})
        assert response.json()["state"] == "failed"
        states = {task_id: ti.state for task_id, ti in ti_rows(app_settings, "golden_state_run").items()}
        assert states == {
            "runme_0": "failed",
            "runme_1": "success",
            "runme_2": "skipped",
            "run_after_loop": "skipped",
            "also_run_this": "skipped",
            "this_will_skip": "skipped",
            "run_this_last": "skipped",
        }

    @pytest.mark.parametrize("seq", [289, 290, 292, 293])
    def test_errors(self, client, state_run, seq):
        assert_replays(client, seq)

    def test_an_empty_body_is_a_400_not_airflows_500(self, client, state_run):
        response = replay(client, 291)
        assert response.status_code == 400
        assert response.json()["detail"] == "'state' is a required property"


class TestClear:
    @pytest.mark.parametrize("seq", [294, 295])
    def test_a_dry_run_lists_every_task_instance_and_changes_nothing(self, client, state_run, app_settings, seq):
        client.patch(f"{RUNS}/golden_state_run", json={"state": "success"})
        assert_replays(client, seq)
        assert stored_run(app_settings, "golden_state_run").state == "success"

    def test_a_real_clear_queues_the_run_again(self, client, state_run, app_settings):
        client.patch(f"{RUNS}/golden_state_run", json={"state": "success"})
        assert_replays(client, 296)
        run = stored_run(app_settings, "golden_state_run")
        assert (run.state, run.clear_number, run.end_date) == ("queued", 1, None)
        assert {ti.state for ti in ti_rows(app_settings, "golden_state_run").values()} == {None}

    @pytest.mark.parametrize("seq", [297, 298])
    def test_errors(self, client, state_run, seq):
        assert_replays(client, seq)


class TestDelete:
    def test_delete_then_get_then_delete_again(self, client, state_run, app_settings):
        assert_replays(client, 301)
        assert_replays(client, 302)
        assert_replays(client, 303)
        assert ti_rows(app_settings, "golden_state_run") == {}

    def test_an_unknown_dag(self, client):
        assert_replays(client, 304)


class TestUpstreamDatasetEvents:
    def test_a_manual_run_has_none(self, client, state_run):
        assert_replays(client, 299)

    def test_an_unknown_run(self, client):
        assert_replays(client, 300)


def test_a_delete_answers_204_without_a_body(client, state_run):
    response = client.delete(f"{RUNS}/golden_state_run")
    assert response.status_code == 204 and response.content == b""


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", f"{RUNS}/a%00b", None, 404),
        ("GET", f"{V1}/dags/a%00b/dagRuns", None, 200),
        ("POST", f"{V1}/dags/a%00b/dagRuns", {}, 404),
        ("POST", RUNS, {"dag_run_id": "n", "note": "a\x00b"}, 400),
        ("POST", f"{V1}/dags/~/dagRuns/list", {"dag_ids": ["a\x00"], "states": ["\x00"]}, 200),
        ("PATCH", f"{RUNS}/%00", {"state": "success"}, 404),
        ("PATCH", f"{RUNS}/%00/setNote", {"note": "x"}, 404),
        ("POST", f"{RUNS}/%00/clear", {}, 404),
        ("DELETE", f"{RUNS}/%00", None, 404),
        ("GET", f"{RUNS}/%00/upstreamDatasetEvents", None, 404),
    ],
)
def test_a_nul_character_matches_nothing_on_every_backend(client, method, path, body, status):
    """PostgreSQL refuses NUL in a text parameter; answered as no match, never a 500."""
    response = client.request(method, path, **({"json": body} if body is not None else {}))
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["total_entries"] == 0


BIG = 10**23
NEW_YEAR = "2024-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", f"{V1}/dags/~/dagRuns?offset={BIG}", None, 200),
        ("POST", f"{V1}/dags/~/dagRuns/list", {"page_offset": BIG}, 400),
        ("POST", f"{V1}/dags/~/dagRuns/list", {"page_limit": BIG}, 400),
        ("POST", f"{V1}/dags/~/dagRuns/list", {"page_offset": 2**63 - 1}, 200),
        ("GET", f"{V1}/dags/~/dagRuns?execution_date_gte=0001-01-01T00:00:00%2B01:00", None, 400),
        ("GET", f"{V1}/dags/~/dagRuns?end_date_lte=9999-12-31T23:59:59-01:00", None, 400),
        ("POST", RUNS, {"data_interval_start": "0001-01-01T00:00:00+01:00", "data_interval_end": NEW_YEAR}, 400),
    ],
)
def test_numbers_and_dates_beyond_what_the_database_holds_are_4xx(client, method, path, body, status):
    response = client.request(method, path, **({"json": body} if body is not None else {}))
    assert response.status_code == status, response.text
    if status == 400 and "0001-01-01" in str(body) + path:
        assert "outside the dates Slipstream stores" in response.json()["detail"]

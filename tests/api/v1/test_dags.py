"""The stable API's DAG operations: /dags, /dags/{dag_id} (details, tasks), /dagSources, /dagStats,
/dagWarnings, /importErrors and /parseDagFile, compared with Airflow 2.10.5's recorded answers."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from slipstream.services.file_tokens import fileloc_of
from slipstream.services.reparse import REPARSE_REQUESTED
from slipstream.storage.db import session_scope
from slipstream.storage.models import AuditLog, DagCode, DagModel, DagRun, DagWarning, Pool
from tests.api.v1.golden import assert_matches_golden, exchange
from tests.api.v1.peer_dags import add_peer_dags

V1 = "/api/v1"
BASH = "example_bash_operator"
DOCS = "https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html#section/Errors/"
# Our example DAG files live elsewhere than Airflow's, and Airflow orders a DAG's tags as a set iterates.
DAG_PATHS = ("$.fileloc", "$.tags")
LIST_PATHS = ("$.dags[*].fileloc", "$.dags[*].tags")


def golden_body(seq: int):
    return exchange(seq)["response"]["body"]


def pause(client, dag_id: str, paused: bool = True) -> None:
    response = client.patch(f"{V1}/dags/{dag_id}", json={"is_paused": paused})
    assert response.status_code == 200, response.text


@pytest.fixture
def peer(client, app_settings):
    """The golden recording's own DAG files, parsed into this test's database (paused, as there)."""
    add_peer_dags(app_settings)
    for dag_id in ("peer_throwaway", "peer_warning"):
        pause(client, dag_id)
    return app_settings


class TestGetDags:
    def test_the_default_page_lists_active_dags_by_id_with_airflows_fields(self, client):
        response = client.get(f"{V1}/dags")
        assert response.status_code == 200
        body = response.json()
        ids = [dag["dag_id"] for dag in body["dags"]]
        assert ids == sorted(ids)
        assert body["total_entries"] == len(ids) >= 4
        assert set(body["dags"][0]) == set(golden_body(9)["dags"][0])

    def test_the_bash_dag_in_the_list_is_airflows(self, client):
        pause(client, BASH)
        body = client.get(f"{V1}/dags", params={"dag_id_pattern": "BASH"}).json()
        assert_matches_golden(body, 21, also_volatile=LIST_PATHS)
        assert body["dags"][0]["tags"] == [{"name": "example"}, {"name": "example2"}]

    def test_limit_and_offset_page_while_total_counts_every_match(self, client):
        everything = [d["dag_id"] for d in client.get(f"{V1}/dags").json()["dags"]]
        page = client.get(f"{V1}/dags", params={"limit": 2, "offset": 1}).json()
        assert [d["dag_id"] for d in page["dags"]] == everything[1:3]
        assert page["total_entries"] == len(everything)
        beyond = client.get(f"{V1}/dags", params={"offset": 50}).json()
        assert beyond == {"dags": [], "total_entries": len(everything)}

    @pytest.mark.parametrize("limit", [0, 1000])
    def test_a_zero_or_oversized_limit_is_the_fallback_or_the_cap(self, client, limit):
        response = client.get(f"{V1}/dags", params={"limit": limit, "fields": "dag_id"})
        assert response.status_code == 200
        assert len(response.json()["dags"]) == response.json()["total_entries"]

    def test_the_page_is_capped_at_one_hundred(self, client, app_settings):
        with session_scope(app_settings.database_url) as session:
            session.add_all(DagModel(dag_id=f"bulk_{n:03d}", fileloc=f"/gone/bulk_{n}.py") for n in range(120))
        body = client.get(f"{V1}/dags", params={"limit": 1000, "fields": "dag_id"}).json()
        assert len(body["dags"]) == 100
        assert body["total_entries"] == 124

    @pytest.mark.parametrize(("query", "seq"), [("limit=-1", 14), ("offset=-1", 15), ("limit=abc", 16)])
    def test_bad_pagination_is_airflows_400(self, client, query, seq):
        response = client.get(f"{V1}/dags?{query}")
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == golden_body(seq)

    def test_order_by_dag_id_descending(self, client):
        ids = [d["dag_id"] for d in client.get(f"{V1}/dags", params={"order_by": "-dag_id"}).json()["dags"]]
        assert ids == sorted(ids, reverse=True)

    def test_order_by_anything_but_dag_id_is_a_400(self, client):
        response = client.get(f"{V1}/dags", params={"order_by": "dag_display_name"})
        assert response.status_code == 400
        assert response.json() == golden_body(18)

    def test_tags_repeated_match_any_of_them(self, client):
        body = client.get(f"{V1}/dags", params=[("tags", "example2"), ("tags", "no_such_tag")]).json()
        assert [d["dag_id"] for d in body["dags"]] == [BASH]
        assert body["total_entries"] == 1
        every = client.get(f"{V1}/dags", params=[("tags", "example"), ("tags", "example2")]).json()
        assert every["total_entries"] == 4

    def test_paused_filters_and_a_non_boolean_is_airflows_400(self, client):
        pause(client, BASH)
        paused = client.get(f"{V1}/dags", params={"paused": "true"}).json()
        assert [d["dag_id"] for d in paused["dags"]] == [BASH]
        unpaused = client.get(f"{V1}/dags", params={"paused": "false"}).json()
        assert BASH not in [d["dag_id"] for d in unpaused["dags"]]
        assert unpaused["total_entries"] == 3
        response = client.get(f"{V1}/dags", params={"paused": "maybe"})
        assert response.status_code == 400
        assert response.json() == golden_body(24)

    def test_only_active_false_includes_dags_whose_file_is_gone(self, client, app_settings):
        with session_scope(app_settings.database_url) as session:
            session.add(DagModel(dag_id="gone_dag", fileloc="/nowhere/gone.py", is_active=False))
        active = client.get(f"{V1}/dags", params={"dag_id_pattern": "gone"}).json()
        assert active == {"dags": [], "total_entries": 0}
        everything = client.get(f"{V1}/dags", params={"dag_id_pattern": "gone", "only_active": "false"}).json()
        (gone,) = everything["dags"]
        assert gone["is_active"] is False
        assert gone["owners"] == [] and gone["schedule_interval"] is None and gone["has_import_errors"] is False

    def test_fields_repeated_or_comma_separated(self, client):
        repeated = client.get(f"{V1}/dags", params=[("fields", "dag_id"), ("fields", "is_paused"), ("limit", 3)])
        comma = client.get(f"{V1}/dags", params={"fields": "dag_id,is_paused", "limit": 3})
        assert repeated.json() == comma.json()
        assert all(set(dag) == {"dag_id", "is_paused"} for dag in comma.json()["dags"])

    def test_an_unknown_field_is_airflows_400(self, client):
        response = client.get(f"{V1}/dags", params={"fields": "bogus"})
        assert response.status_code == 400
        assert response.json() == golden_body(28)

    def test_unknown_fields_are_named_in_their_order(self, client):
        response = client.get(f"{V1}/dags", params={"fields": "zeta,dag_id,alpha,zeta"})
        assert response.json()["detail"] == "Invalid fields for <DAGSchema(many=False)>: OrderedSet(['zeta', 'alpha'])."

    def test_an_unknown_query_parameter_is_airflows_400(self, client):
        response = client.get(f"{V1}/dags?bogus=1&limit=1")
        assert response.status_code == 400
        assert response.json() == golden_body(29)


class TestGetDag:
    def test_the_bash_dag_is_airflows(self, client):
        pause(client, BASH)
        body = client.get(f"{V1}/dags/{BASH}").json()
        assert_matches_golden(body, 30, also_volatile=DAG_PATHS)
        assert body["next_dagrun_create_after"] is not None
        assert body["timetable_description"] == "At 00:00"

    def test_its_file_token_names_its_file(self, client, app_settings):
        body = client.get(f"{V1}/dags/{BASH}").json()
        assert fileloc_of(app_settings, body["file_token"]) == body["fileloc"]
        assert fileloc_of(app_settings, body["file_token"] + "x") is None

    def test_fields(self, client):
        response = client.get(f"{V1}/dags/{BASH}", params=[("fields", "dag_id"), ("fields", "owners")])
        assert response.json() == golden_body(31)

    def test_an_unknown_field_is_airflows_400(self, client):
        response = client.get(f"{V1}/dags/{BASH}", params={"fields": "bogus"})
        assert response.status_code == 400
        assert response.json() == golden_body(32)

    def test_an_unknown_dag_is_airflows_404(self, client):
        response = client.get(f"{V1}/dags/no_such_dag")
        assert response.status_code == 404
        assert response.json() == golden_body(33)

    def test_a_dag_with_a_pool_warning(self, client, peer):
        body = client.get(f"{V1}/dags/peer_warning").json()
        assert_matches_golden(body, 479, also_volatile=DAG_PATHS)

    def test_a_dag_whose_file_now_fails_to_import_keeps_its_row_and_says_so(self, client, peer):
        path = peer.dags_folder / "peer_throwaway.py"
        path.write_text(path.read_text() + "\nraise RuntimeError('broken now')\n")
        from slipstream.dag_processing import process_all

        process_all(peer)
        body = client.get(f"{V1}/dags/peer_throwaway").json()
        assert body["has_import_errors"] is True
        assert body["is_active"] is True


class TestGetDagDetails:
    def test_the_bash_dag_in_detail_is_airflows(self, client):
        pause(client, BASH)
        body = client.get(f"{V1}/dags/{BASH}/details").json()
        assert_matches_golden(body, 35, also_volatile=DAG_PATHS)

    def test_fields_use_airflows_names(self, client):
        response = client.get(f"{V1}/dags/{BASH}/details", params=[("fields", f) for f in ("dag_id", "params")])
        assert response.json() == {"dag_id": BASH, "params": golden_body(37)["params"]}
        parsed = client.get(f"{V1}/dags/{BASH}/details", params={"fields": "last_loaded"}).json()
        assert set(parsed) == {"last_parsed"}

    def test_timetable_description_and_params_fields(self, client):
        response = client.get(
            f"{V1}/dags/{BASH}/details", params=[("fields", f) for f in ("dag_id", "timetable_description", "params")]
        )
        assert response.json() == golden_body(37)

    def test_an_unknown_field_is_a_400(self, client):
        response = client.get(f"{V1}/dags/{BASH}/details", params={"fields": "last_parsed"})
        assert response.status_code == 400
        assert response.json()["title"] == "DAGDetailSchema init error"
        expected = "Invalid fields for <DAGDetailSchema(many=False)>: OrderedSet(['last_parsed'])."
        assert response.json()["detail"] == expected

    def test_an_unknown_dag_is_airflows_404(self, client):
        response = client.get(f"{V1}/dags/no_such_dag/details")
        assert response.status_code == 404
        assert response.json() == golden_body(38)

    def test_a_taskflow_dag_without_schedule_or_timeout(self, client):
        body = client.get(f"{V1}/dags/example_taskflow/details").json()
        assert body["schedule_interval"] is None
        assert body["dag_run_timeout"] is None
        assert body["timetable_description"] == "Never, external triggers only"
        assert body["params"]["threshold"]["value"] == 100


class TestGetTasks:
    def test_the_bash_dags_tasks_are_airflows(self, client):
        body = client.get(f"{V1}/dags/{BASH}/tasks").json()
        assert_matches_golden(body, 39)

    def test_order_by_descending(self, client):
        body = client.get(f"{V1}/dags/{BASH}/tasks", params={"order_by": "-task_id"}).json()
        assert_matches_golden(body, 40)

    def test_order_by_another_attribute_keeps_ties_in_dag_order(self, client):
        body = client.get(f"{V1}/dags/{BASH}/tasks", params={"order_by": "priority_weight"}).json()
        assert [t["task_id"] for t in body["tasks"]][:2] == ["run_this_last", "run_after_loop"]

    def test_an_attribute_tasks_lack_is_airflows_400(self, client):
        response = client.get(f"{V1}/dags/{BASH}/tasks", params={"order_by": "bogus"})
        assert response.status_code == 400
        assert response.json() == golden_body(42)

    def test_an_unknown_dag_is_airflows_404(self, client):
        response = client.get(f"{V1}/dags/no_such_dag/tasks")
        assert response.status_code == 404
        assert response.json() == golden_body(43)


class TestGetTask:
    def test_a_bash_task_is_airflows(self, client):
        assert_matches_golden(client.get(f"{V1}/dags/{BASH}/tasks/runme_0").json(), 44)

    def test_a_taskflow_task_is_shown_as_task(self, client):
        body = client.get(f"{V1}/dags/example_taskflow/tasks/extract").json()
        assert body["operator_name"] == "@task"
        assert body["class_ref"] == golden_body(46)["class_ref"]
        assert body["is_mapped"] is False

    def test_a_mapped_task_is_airflows(self, client, app_settings):
        add_peer_dags(app_settings, ("example_dynamic_task_mapping.py",))
        body = client.get(f"{V1}/dags/example_dynamic_task_mapping/tasks/add_one").json()
        assert_matches_golden(body, 45)

    @pytest.mark.parametrize(("path", "seq"), [(f"{BASH}/tasks/no_such_task", 47), ("no_such_dag/tasks/runme_0", 48)])
    def test_unknown_task_or_dag_is_airflows_404(self, client, path, seq):
        response = client.get(f"{V1}/dags/{path}")
        assert response.status_code == 404
        assert response.json() == golden_body(seq)


class TestPatchDag:
    def test_update_mask_is_paused_unpauses(self, client, app_settings):
        pause(client, BASH)
        response = client.patch(f"{V1}/dags/{BASH}?update_mask=is_paused", json={"is_paused": False})
        assert response.status_code == 200
        assert_matches_golden(response.json(), 86, also_volatile=DAG_PATHS)

    def test_pause_and_unpause_without_mask_are_audited_as_the_experimental_api_does(self, client, peer):
        unpaused = client.patch(f"{V1}/dags/peer_throwaway", json={"is_paused": False})
        assert_matches_golden(unpaused.json(), 439, also_volatile=DAG_PATHS)
        paused = client.patch(f"{V1}/dags/peer_throwaway", json={"is_paused": True})
        assert_matches_golden(paused.json(), 440, also_volatile=DAG_PATHS)
        with session_scope(peer.database_url) as session:
            events = session.scalars(
                select(AuditLog.event).where(AuditLog.dag_id == "peer_throwaway").order_by(AuditLog.id)
            ).all()
            # Airflow's event-log row for each call, then the experimental API's own audit entry.
            assert events[-4:] == ["api.patch_dag", "dag.unpause", "api.patch_dag", "dag.pause"]
            assert session.get(DagModel, "peer_throwaway").is_paused is True

    @pytest.mark.parametrize(
        ("url", "body", "seq"),
        [
            ("peer_throwaway?update_mask=description", {"is_paused": True}, 441),
            ("peer_throwaway", {"is_paused": "maybe"}, 442),
            ("peer_throwaway", {"is_paused": True, "fileloc": "/x"}, 443),
            ("no_such_dag", {"is_paused": True}, 445),
        ],
    )
    def test_refusals_are_airflows(self, client, peer, url, body, seq):
        response = client.patch(f"{V1}/dags/{url}", json=body)
        assert response.status_code == exchange(seq)["response"]["status"]
        assert response.json() == golden_body(seq)

    @pytest.mark.parametrize(
        ("body", "detail"),
        [
            ({}, "{'is_paused': ['Missing data for required field.']}"),
            ({"is_paused": None}, "{'is_paused': ['Not a valid boolean.']}"),
            ({"is_paused": True, "bogus": 1}, "{'bogus': ['Unknown field.']}"),
        ],
    )
    def test_a_body_without_a_boolean_is_paused_is_a_400_where_airflow_fails(self, client, body, detail):
        response = client.patch(f"{V1}/dags/{BASH}", json=body)
        assert response.status_code == 400
        assert response.json()["detail"] == detail
        assert client.get(f"{V1}/dags/{BASH}").json()["is_paused"] is False


class TestPatchDags:
    def test_pattern_and_mask_unpause_then_pause(self, client, peer):
        response = client.patch(f"{V1}/dags?dag_id_pattern=peer_throw&update_mask=is_paused", json={"is_paused": False})
        assert_matches_golden(response.json(), 446, also_volatile=LIST_PATHS)
        response = client.patch(f"{V1}/dags?dag_id_pattern=peer_throw", json={"is_paused": True})
        assert_matches_golden(response.json(), 447, also_volatile=LIST_PATHS)

    @pytest.mark.parametrize(
        ("query", "seq"),
        [("dag_id_pattern=no_such_prefix", 448), ("dag_id_pattern=peer&tags=no_such_tag", 449), ("", 450)],
    )
    def test_no_match_and_no_pattern(self, client, peer, query, seq):
        response = client.patch(f"{V1}/dags?{query}", json={"is_paused": True})
        assert response.status_code == exchange(seq)["response"]["status"]
        assert response.json() == golden_body(seq)

    def test_update_mask_other_than_is_paused(self, client):
        response = client.patch(f"{V1}/dags?dag_id_pattern=peer_throw&update_mask=owners", json={"is_paused": True})
        assert response.status_code == 400
        assert response.json() == golden_body(451)

    def test_tilde_pauses_one_page_of_every_dag(self, client, app_settings):
        response = client.patch(f"{V1}/dags?dag_id_pattern=~&limit=2", json={"is_paused": True})
        body = response.json()
        assert [d["is_paused"] for d in body["dags"]] == [True, True]
        assert body["total_entries"] == 4
        paused = client.get(f"{V1}/dags", params={"paused": "true", "fields": "dag_id"}).json()
        assert paused["dags"] == [{"dag_id": d["dag_id"]} for d in body["dags"]]


class TestDeleteDag:
    def test_delete_then_get_is_404_and_runs_are_gone(self, client, peer):
        trigger = client.post(
            "/api/experimental/dags/peer_throwaway/dag_runs", json={"execution_date": "2024-06-01T00:00:00+00:00"}
        )
        assert trigger.status_code == 200, trigger.text
        response = client.delete(f"{V1}/dags/peer_throwaway")
        assert response.status_code == 204
        assert response.content == b""
        for path, seq in (("peer_throwaway", 458), ("peer_throwaway/details", 460)):
            gone = client.get(f"{V1}/dags/{path}")
            assert gone.status_code == 404
            assert gone.json() == golden_body(seq)
        again = client.delete(f"{V1}/dags/peer_throwaway")
        assert again.status_code == 404
        assert again.json() == golden_body(461)
        with session_scope(peer.database_url) as session:
            assert session.scalars(select(DagRun).where(DagRun.dag_id == "peer_throwaway")).all() == []
            rows = session.scalars(select(AuditLog).where(AuditLog.dag_id == "peer_throwaway").order_by(AuditLog.id))
            logged = [(row.event, row.extra) for row in rows if row.event in ("api.delete_dag", "dag.delete")]
            # Each call's event-log row first (the refused second delete too), and the deletion's audit
            # entry with Airflow's count: the run, its task instance and the DAG's row.
            assert logged[-3:] == [("api.delete_dag", {}), ("dag.delete", {"count": 3}), ("api.delete_dag", {})]

    def test_an_unknown_dag_is_airflows_404(self, client):
        response = client.delete(f"{V1}/dags/no_such_dag")
        assert response.status_code == 404
        assert response.json() == golden_body(462)

    def test_running_task_instances_refuse_the_delete(self, client, app_settings):
        from slipstream.storage.models import TaskInstance

        with session_scope(app_settings.database_url) as session:
            session.add(TaskInstance(dag_id=BASH, run_id="r", task_id="runme_0", state="running"))
        response = client.delete(f"{V1}/dags/{BASH}")
        assert response.status_code == 409
        assert response.json() == {
            "detail": f"Task instances of dag with id: '{BASH}' are still running",
            "status": 409,
            "title": "Conflict",
            "type": DOCS + "AlreadyExists",
        }


class TestDagSource:
    @pytest.fixture
    def token(self, client):
        return client.get(f"{V1}/dags/{BASH}").json()["file_token"]

    @pytest.fixture
    def source(self, app_settings):
        with session_scope(app_settings.database_url) as session:
            fileloc = session.get(DagModel, BASH).fileloc
            return session.get(DagCode, fileloc).source_code

    @pytest.mark.parametrize("accept", ["text/plain", "*/*", "text/*", "application/json, text/plain"])
    def test_text_plain(self, client, token, source, accept):
        response = client.get(f"{V1}/dagSources/{token}", headers={"Accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text == source
        assert "example_bash_operator" in source

    def test_application_json(self, client, token, source):
        response = client.get(f"{V1}/dagSources/{token}", headers={"Accept": "application/json"})
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"content": source}
        preferred = client.get(f"{V1}/dagSources/{token}", headers={"Accept": "text/plain;q=0.5, application/json"})
        assert preferred.json() == {"content": source}

    @pytest.mark.parametrize("accept", [None, "text/html", "application/xml;q=1, text/plain;q=0"])
    def test_no_or_another_accept_is_406(self, client, token, accept):
        client.headers.pop("accept", None)
        response = client.get(f"{V1}/dagSources/{token}", headers={"Accept": accept} if accept else {})
        assert response.status_code == 406
        assert response.text == golden_body(51) == golden_body(53)

    def test_a_token_not_signed_here_is_airflows_404(self, client):
        response = client.get(f"{V1}/dagSources/not-a-valid-token", headers={"Accept": "text/plain"})
        assert response.status_code == 404
        assert response.json() == golden_body(54)


class TestDagStats:
    def test_a_dag_without_runs_counts_zero_in_every_state(self, client):
        response = client.get(f"{V1}/dagStats", params={"dag_ids": BASH})
        assert response.json() == golden_body(55)

    def test_counts_by_state_for_several_dags_unknown_ones_left_out(self, client, app_settings):
        for day, state in (("01", "success"), ("02", "success"), ("03", "failed")):
            client.post(f"/api/experimental/dags/{BASH}/dag_runs", json={"execution_date": f"2024-01-{day}T00:00:00Z"})
            with session_scope(app_settings.database_url) as session:
                run = session.scalars(select(DagRun).order_by(DagRun.id.desc())).first()
                run.state = state
        body = client.get(f"{V1}/dagStats", params={"dag_ids": f"no_such_dag,{BASH},example_pool"}).json()
        assert body["total_entries"] == 2
        stats = {dag["dag_id"]: {s["state"]: s["count"] for s in dag["stats"]} for dag in body["dags"]}
        assert stats == {
            BASH: {"queued": 0, "running": 0, "success": 2, "failed": 1},
            "example_pool": {"queued": 0, "running": 0, "success": 0, "failed": 0},
        }
        assert client.get(f"{V1}/dagStats", params={"dag_ids": "no_such_dag"}).json() == golden_body(477)

    def test_dag_ids_are_required(self, client):
        response = client.get(f"{V1}/dagStats")
        assert response.status_code == 400
        assert response.json() == golden_body(56)


class TestDagWarnings:
    def test_a_task_in_a_missing_pool_is_airflows_warning(self, client, peer):
        for params, seq in (({}, 471), ({"dag_id": "peer_warning"}, 472), ({"warning_type": "non-existent pool"}, 473)):
            assert_matches_golden(client.get(f"{V1}/dagWarnings", params=params).json(), seq)
        assert client.get(f"{V1}/dagWarnings", params={"warning_type": "bogus"}).json() == golden_body(474)
        ordered = client.get(f"{V1}/dagWarnings", params={"order_by": "-dag_id", "limit": 1}).json()
        assert_matches_golden(ordered, 475)

    def test_creating_the_pool_clears_the_warning_on_the_next_pass(self, client, peer):
        from slipstream.dag_processing import process_all

        with session_scope(peer.database_url) as session:
            session.add(Pool(pool="peer_no_such_pool", slots=1))
        process_all(peer)
        assert client.get(f"{V1}/dagWarnings").json() == {"dag_warnings": [], "total_entries": 0}

    def test_deleting_the_dag_deletes_its_warning(self, client, peer):
        assert client.delete(f"{V1}/dags/peer_warning").status_code == 204
        with session_scope(peer.database_url) as session:
            assert session.scalars(select(DagWarning)).all() == []

    def test_an_unknown_order_by_is_airflows_400(self, client):
        response = client.get(f"{V1}/dagWarnings", params={"order_by": "bogus"})
        assert response.status_code == 400
        assert response.json() == golden_body(476)


class TestImportErrors:
    VOLATILE = ("$.import_errors[*].filename", "$.import_errors[*].stack_trace")

    def test_list_order_and_offset(self, client, peer):
        for params, seq in (({}, 463), ({"order_by": "-timestamp", "limit": 1}, 464), ({"order_by": "filename"}, 465)):
            body = client.get(f"{V1}/importErrors", params=params).json()
            assert_matches_golden(body, seq, also_volatile=self.VOLATILE)
            (error,) = body["import_errors"]
            assert error["filename"].endswith("/dags/peer_broken_dag.py")
            assert "RuntimeError: peer_broken_dag: deliberately broken" in error["stack_trace"]
        assert client.get(f"{V1}/importErrors", params={"offset": 10}).json() == golden_body(467)

    def test_an_unknown_order_by_is_airflows_400(self, client):
        response = client.get(f"{V1}/importErrors", params={"order_by": "stacktrace"})
        assert response.status_code == 400
        assert response.json() == golden_body(466)

    def test_get_by_id(self, client, peer):
        (listed,) = client.get(f"{V1}/importErrors").json()["import_errors"]
        body = client.get(f"{V1}/importErrors/{listed['import_error_id']}").json()
        assert body == listed
        assert_matches_golden(body, 468, also_volatile=("$.filename", "$.stack_trace"))

    @pytest.mark.parametrize(("ident", "seq"), [("999999", 469), ("abc", 470)])
    def test_unknown_and_non_integer_ids_are_airflows_404s(self, client, ident, seq):
        response = client.get(f"{V1}/importErrors/{ident}")
        assert response.status_code == 404
        assert response.json() == golden_body(seq)

    def test_an_id_beyond_any_integer_is_a_404(self, client):
        response = client.get(f"{V1}/importErrors/{'9' * 40}")
        assert response.status_code == 404


class TestReparseDagFile:
    def test_put_marks_the_file_then_a_second_put_is_a_duplicate(self, client, app_settings):
        token = client.get(f"{V1}/dags/{BASH}").json()["file_token"]
        first = client.put(f"{V1}/parseDagFile/{token}")
        assert (first.status_code, first.text) == (201, golden_body(453))
        second = client.put(f"{V1}/parseDagFile/{token}")
        assert (second.status_code, second.text) == (201, golden_body(454))
        fileloc = fileloc_of(app_settings, token)
        with session_scope(app_settings.database_url) as session:
            assert session.get(DagCode, fileloc).source_hash == REPARSE_REQUESTED

    def test_the_dag_processor_parses_a_marked_file_at_once_and_clears_the_mark(self, client, app_settings):
        from slipstream.dag_processing import FileCache, process_all

        cache = FileCache()
        process_all(app_settings, cache=cache)
        token = client.get(f"{V1}/dags/{BASH}").json()["file_token"]
        assert process_all(app_settings, cache=cache).parsed == []
        client.put(f"{V1}/parseDagFile/{token}")
        report = process_all(app_settings, cache=cache)
        fileloc = fileloc_of(app_settings, token)
        assert report.parsed == [fileloc]
        with session_scope(app_settings.database_url) as session:
            assert session.get(DagCode, fileloc).source_hash != REPARSE_REQUESTED
        assert client.put(f"{V1}/parseDagFile/{token}").text == ""

    def test_post_is_405(self, client):
        token = client.get(f"{V1}/dags/{BASH}").json()["file_token"]
        response = client.post(f"{V1}/parseDagFile/{token}")
        assert response.status_code == 405
        assert response.json() == golden_body(452)

    def test_a_token_not_signed_here_is_airflows_404(self, client):
        response = client.put(f"{V1}/parseDagFile/not-a-valid-token")
        assert response.status_code == 404
        assert response.json() == golden_body(455)

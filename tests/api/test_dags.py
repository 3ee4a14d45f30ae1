"""GET /dags/{id}/code, GET /dags/{id}/paused/{paused}, GET /dags/{id}/paused, DELETE /dags/{id}[/delete_dag]."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

import slipstream.example_dags
from slipstream.storage.db import session_scope
from slipstream.storage.models import DagCode, DagModel, DagRun, SerializedDagModel, TaskInstance
from tests.api.support import (
    BASE,
    BASH_DAG,
    TEXT_PLAIN,
    assert_error,
    assert_error_matching,
    assert_json,
    is_paused,
    snapshot,
    trigger,
    update_task_instance,
)

EXAMPLE_DAGS = Path(slipstream.example_dags.__path__[0])


def count_rows(settings, model, dag_id: str) -> int:
    with session_scope(settings.database_url, write=False) as db:
        return db.scalar(select(func.count()).select_from(model).where(model.dag_id == dag_id))


class TestGetDagCode:
    def test_the_dag_files_source_as_plain_text(self, client):
        response = client.get(f"{BASE}/dags/{BASH_DAG}/code")

        assert response.status_code == 200
        assert response.headers["content-type"] == TEXT_PLAIN
        assert response.headers["cache-control"] == "no-store"
        assert response.text == (EXAMPLE_DAGS / "example_bash_operator.py").read_text()
        assert "BashOperator(" in response.text

    def test_unknown_dag(self, client):
        assert_error(client.get(f"{BASE}/dags/xyz/code"), 404, "Dag id xyz not found in DagModel")

    def test_source_not_read_yet(self, client, app_settings):
        with session_scope(app_settings.database_url) as db:
            fileloc = db.get(DagModel, BASH_DAG).fileloc
            db.execute(delete(DagCode).where(DagCode.fileloc == fileloc))

        assert_error(
            client.get(f"{BASE}/dags/{BASH_DAG}/code"),
            404,
            f"Code of Dag id {BASH_DAG} not found: its file {fileloc} has not been read",
        )


class TestSetDagPaused:
    @pytest.mark.parametrize("value", ["true", "TRUE", "True", "tRuE"])
    def test_true_pauses(self, client, app_settings, value):
        assert_json(client.get(f"{BASE}/dags/{BASH_DAG}/paused/{value}"), 200, {"response": "ok"})

        assert is_paused(app_settings, BASH_DAG) is True
        assert is_paused(app_settings, "example_pool") is False

    @pytest.mark.parametrize("value", ["false", "FALSE", "False"])
    def test_false_unpauses(self, client, app_settings, value):
        assert client.get(f"{BASE}/dags/{BASH_DAG}/paused/true").status_code == 200

        assert_json(client.get(f"{BASE}/dags/{BASH_DAG}/paused/{value}"), 200, {"response": "ok"})

        assert is_paused(app_settings, BASH_DAG) is False

    def test_pausing_twice_is_fine(self, client, app_settings):
        for _ in range(2):
            assert_json(client.get(f"{BASE}/dags/{BASH_DAG}/paused/true"), 200, {"response": "ok"})
        assert is_paused(app_settings, BASH_DAG) is True

    @pytest.mark.parametrize("value", ["yes", "1", "0", "on", "truee", "t", "null", "%20true"])
    def test_any_other_value_is_rejected(self, client, app_settings, value):
        before = snapshot(app_settings)

        assert_error_matching(client.get(f"{BASE}/dags/{BASH_DAG}/paused/{value}"), 400, r"does not match")
        assert snapshot(app_settings) == before

    def test_unknown_dag(self, client, app_settings):
        before = snapshot(app_settings)

        assert_error(client.get(f"{BASE}/dags/nope/paused/true"), 404, "Dag id nope not found in DagModel")
        assert snapshot(app_settings) == before


class TestGetDagPaused:
    def test_a_new_dag_is_unpaused(self, client):
        assert_json(client.get(f"{BASE}/dags/{BASH_DAG}/paused"), 200, {"is_paused": False})

    def test_after_pausing(self, client):
        assert client.get(f"{BASE}/dags/{BASH_DAG}/paused/true").status_code == 200

        assert_json(client.get(f"{BASE}/dags/{BASH_DAG}/paused"), 200, {"is_paused": True})

    def test_after_unpausing(self, client):
        assert client.get(f"{BASE}/dags/{BASH_DAG}/paused/true").status_code == 200
        assert client.get(f"{BASE}/dags/{BASH_DAG}/paused/false").status_code == 200

        assert_json(client.get(f"{BASE}/dags/{BASH_DAG}/paused"), 200, {"is_paused": False})

    def test_unknown_dag(self, client):
        assert_error(client.get(f"{BASE}/dags/nope/paused"), 404, "Dag id nope not found in DagModel")


# Airflow 2.x's json_client calls DELETE /dags/{id}/delete_dag; both answer the same.
DELETE_ROUTES = pytest.mark.parametrize("suffix", ["", "/delete_dag"], ids=["dags-id", "delete_dag"])


@DELETE_ROUTES
class TestDeleteDag:
    def test_removes_the_dag_its_runs_and_task_instances(self, client, app_settings, suffix):
        for date in ("2022-01-01", "2022-01-02"):
            assert trigger(client, {"execution_date": date}).status_code == 200
        assert trigger(client, {"execution_date": "2022-01-01"}, dag_id="example_pool").status_code == 200
        assert count_rows(app_settings, TaskInstance, BASH_DAG) == 14

        # 2 runs + 14 task instances + the DAG row, as Airflow counts (the serialized DAG is not counted).
        assert_json(
            client.delete(f"{BASE}/dags/{BASH_DAG}{suffix}"), 200, {"count": 17, "message": "Removed 17 record(s)"}
        )

        for model in (DagModel, SerializedDagModel, DagRun, TaskInstance):
            assert count_rows(app_settings, model, BASH_DAG) == 0, model
        assert count_rows(app_settings, DagRun, "example_pool") == 1
        assert count_rows(app_settings, TaskInstance, "example_pool") == 4
        assert count_rows(app_settings, DagModel, "example_pool") == 1

    def test_the_api_no_longer_knows_the_dag(self, client, suffix):
        assert client.delete(f"{BASE}/dags/{BASH_DAG}{suffix}").status_code == 200

        assert_error(client.get(f"{BASE}/dags/{BASH_DAG}/paused"), 404, f"Dag id {BASH_DAG} not found in DagModel")
        assert_error(client.get(f"{BASE}/dags/{BASH_DAG}/dag_runs"), 400, f"Dag id {BASH_DAG} not found in DagModel")
        assert_error(trigger(client, {}), 404, f"Dag id {BASH_DAG} not found in DagModel")

    def test_a_dag_without_runs_counts_one_record(self, client, suffix):
        assert_json(
            client.delete(f"{BASE}/dags/example_python_operator{suffix}"),
            200,
            {"count": 1, "message": "Removed 1 record(s)"},
        )

    def test_a_bare_dag_row(self, client, app_settings, suffix):
        with session_scope(app_settings.database_url) as db:
            db.add(DagModel(dag_id="my_dag_id", fileloc=""))

        assert_json(
            client.delete(f"{BASE}/dags/my_dag_id{suffix}"), 200, {"count": 1, "message": "Removed 1 record(s)"}
        )

    def test_unknown_dag(self, client, app_settings, suffix):
        before = snapshot(app_settings)

        assert_error(
            client.delete(f"{BASE}/dags/does_not_exist_dag{suffix}"), 404, "Dag id does_not_exist_dag not found"
        )
        assert snapshot(app_settings) == before

    def test_deleting_twice(self, client, suffix):
        assert client.delete(f"{BASE}/dags/{BASH_DAG}{suffix}").status_code == 200

        assert_error(client.delete(f"{BASE}/dags/{BASH_DAG}{suffix}"), 404, f"Dag id {BASH_DAG} not found")

    def test_running_task_instances_refuse_the_delete(self, client, app_settings, suffix):
        assert trigger(client, {"run_id": "r", "execution_date": "2022-01-01"}).status_code == 200
        update_task_instance(app_settings, BASH_DAG, "r", "runme_0", state="running")
        before = snapshot(app_settings)

        assert_error(client.delete(f"{BASE}/dags/{BASH_DAG}{suffix}"), 409, "TaskInstances still running")
        assert snapshot(app_settings) == before

    def test_other_unfinished_states_do_not_refuse(self, client, app_settings, suffix):
        assert trigger(client, {"run_id": "r", "execution_date": "2022-01-01"}).status_code == 200
        update_task_instance(app_settings, BASH_DAG, "r", "runme_0", state="queued")
        update_task_instance(app_settings, BASH_DAG, "r", "runme_1", state="up_for_retry")

        assert_json(
            client.delete(f"{BASE}/dags/{BASH_DAG}{suffix}"), 200, {"count": 9, "message": "Removed 9 record(s)"}
        )

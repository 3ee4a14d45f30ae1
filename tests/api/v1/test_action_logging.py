"""Every changing v1 operation leaves Airflow's `api.<operation>` row in the event log, refused ones too."""

from __future__ import annotations

V1 = "/api/v1"
DAG = "example_bash_operator"


def events(client, **filters) -> list[dict]:
    response = client.get(f"{V1}/eventLogs", params={"order_by": "event_log_id", **filters})
    assert response.status_code == 200, response.text
    return response.json()["event_logs"]


def test_dag_run_and_task_instance_changes_are_in_the_event_log(client):
    response = client.post(f"{V1}/dags/{DAG}/dagRuns", json={"dag_run_id": "logged_run"})
    assert response.status_code == 200, response.text
    assert client.patch(f"{V1}/dags/{DAG}", json={"is_paused": False}).status_code == 200
    note = client.patch(f"{V1}/dags/{DAG}/dagRuns/logged_run/setNote", json={"note": "checked"})
    assert note.status_code == 200, note.text
    cleared = client.post(f"{V1}/dags/{DAG}/clearTaskInstances", json={"dry_run": True, "dag_run_id": "logged_run"})
    assert cleared.status_code == 200, cleared.text
    missing = client.patch(f"{V1}/dags/{DAG}/dagRuns/no_such_run/setNote", json={"note": "x"})
    assert missing.status_code == 404

    rows = events(client, dag_id=DAG)
    logged = [(e["event"], e["dag_id"], e["run_id"]) for e in rows if e["event"].startswith("api.")]
    assert ("api.patch_dag", DAG, None) in logged
    assert ("api.set_dag_run_note", DAG, "logged_run") in logged
    assert ("api.post_clear_task_instances", DAG, None) in logged
    assert ("api.set_dag_run_note", DAG, "no_such_run") in logged  # refused, and logged first as in Airflow
    note_row = next(e for e in events(client, event="api.set_dag_run_note") if e["run_id"] == "logged_run")
    assert note_row["extra"] is not None and "checked" in note_row["extra"]

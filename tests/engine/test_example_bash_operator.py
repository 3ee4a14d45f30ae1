"""example_bash_operator, triggered through HTTP, runs for real: states, logs, and the tasks CLI."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from slipstream.api.app import create_app
from slipstream.cli import app as cli_app
from slipstream.scheduler.loop import SchedulerThread
from tests.engine.support import sync_dags, task_instances, wait_for_run

BASE = "/api/experimental"
DAG_ID = "example_bash_operator"


def test_triggered_over_http_it_runs_to_success(engine_settings, monkeypatch):
    settings = engine_settings.with_overrides(load_examples=True, auth_backend="default")
    sync_dags(settings)
    client = create_app(settings).test_client()
    scheduler = SchedulerThread(settings)
    scheduler.start()
    try:
        response = client.post(f"{BASE}/dags/{DAG_ID}/dag_runs", json={"conf": {"origin": "http"}})
        assert response.status_code == 200, response.text
        run_id = response.json()["run_id"]
        execution_date = response.json()["execution_date"]

        assert wait_for_run(settings, DAG_ID, run_id) == "success"

        state = client.get(f"{BASE}/dags/{DAG_ID}/dag_runs/{execution_date}")
        assert state.json() == {"state": "success"}
        task = client.get(f"{BASE}/dags/{DAG_ID}/dag_runs/{execution_date}/tasks/also_run_this")
        assert task.json()["state"] == "success"
    finally:
        scheduler.stop()

    tis = task_instances(settings, DAG_ID, run_id)
    assert {task_id: ti.state for task_id, ti in tis.items()} == {
        "runme_0": "success",
        "runme_1": "success",
        "runme_2": "success",
        "run_after_loop": "success",
        "also_run_this": "success",
        "this_will_skip": "skipped",
        "run_this_last": "skipped",
    }
    assert all(ti.try_number == 1 for task_id, ti in tis.items() if task_id != "run_this_last")
    # run_this_last was flagged by its trigger rule: never tried, stamped start = end.
    assert tis["run_this_last"].try_number == 0
    assert tis["run_this_last"].start_date == tis["run_this_last"].end_date
    assert tis["runme_0"].rendered_fields["bash_command"].startswith('echo "example_bash_operator__runme_0__')
    assert tis["runme_0"].hostname and tis["runme_0"].pid

    ds_nodash = execution_date[:10].replace("-", "")
    env = {
        "SLIPSTREAM_HOME": str(settings.home),
        "SLIPSTREAM_DATABASE_URL": settings.database_url,
        "SLIPSTREAM_DAGS_FOLDER": str(settings.dags_folder),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    logs = runner.invoke(cli_app, ["tasks", "logs", DAG_ID, run_id, "runme_0"])
    assert logs.exit_code == 0, logs.output
    assert f"example_bash_operator__runme_0__{ds_nodash}" in logs.output
    assert "Marking task as SUCCESS" in logs.output
    skipped = runner.invoke(cli_app, ["tasks", "logs", DAG_ID, run_id, "this_will_skip", "--try", "1"])
    assert "Bash command returned exit code 99. Skipping." in skipped.output
    missing = runner.invoke(cli_app, ["tasks", "logs", DAG_ID, run_id, "runme_0", "--try", "7"])
    assert missing.exit_code == 1

    states = runner.invoke(cli_app, ["tasks", "states", DAG_ID, run_id, "--json"])
    assert states.exit_code == 0, states.output
    body = orjson.loads(states.output)
    assert body["state"] == "success"
    assert {r["task_id"]: r["state"] for r in body["task_instances"]}["this_will_skip"] == "skipped"
    table = runner.invoke(cli_app, ["tasks", "states", DAG_ID, run_id])
    assert table.exit_code == 0 and "run_after_loop" in table.output

"""A run's `conf` is data: stored as sent, never interpolated into a command by Slipstream."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from slipstream.scheduler.loop import SchedulerThread
from slipstream.storage.db import session_scope
from slipstream.storage.models import DagRun, SerializedDagModel
from tests.engine.support import ti_states, wait_for_run
from tests.security.conftest import GOOD

BASE = "/api/experimental"
DAG = "example_bash_operator"


def hostile_conf(marker_dir) -> dict:
    return {
        "x": f"$(touch {marker_dir}/dollar)",
        "y": f"`touch {marker_dir}/backtick`",
        "z": f"; touch {marker_dir}/semicolon; echo ",
        "w": f"' && touch {marker_dir}/quote && '",
        "jinja": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "nested": {"cmd": [f"| touch {marker_dir}/pipe"], "n": None, "b": True, "f": 1.5},
    }


def stored_conf(database_url: str, run_id: str) -> dict:
    with session_scope(database_url, write=False) as session:
        return session.scalar(select(DagRun.conf).where(DagRun.dag_id == DAG, DagRun.run_id == run_id))


def test_example_dags_never_put_conf_into_a_command(secure):
    with session_scope(secure.settings.database_url, write=False) as session:
        dags = {row.dag_id: row.data for row in session.scalars(select(SerializedDagModel))}
    assert DAG in dags
    commands = [repr(dags[dag_id]) for dag_id in dags]
    for text in commands:
        assert "dag_run.conf" not in text and "params." not in text


@pytest.mark.parametrize("as_string", [False, True], ids=["conf object", "conf as a JSON string"])
def test_hostile_conf_round_trips_unchanged(secure, tmp_path, as_string):
    import orjson

    conf = hostile_conf(tmp_path)
    body = {"conf": orjson.dumps(conf).decode() if as_string else conf}
    response = secure.client.post(f"{BASE}/dags/{DAG}/dag_runs", json=body, headers=GOOD)
    assert response.status_code == 200, response.text
    assert stored_conf(secure.settings.database_url, response.json()["run_id"]) == conf


@pytest.mark.slow
def test_hostile_conf_is_never_executed(secure, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    conf = hostile_conf(markers)
    response = secure.client.post(f"{BASE}/dags/{DAG}/dag_runs", json={"conf": conf}, headers=GOOD)
    assert response.status_code == 200, response.text
    run_id = response.json()["run_id"]

    settings = secure.settings.with_overrides(scheduler_loop_interval=0.02, task_heartbeat_interval=0.2, parallelism=8)
    scheduler = SchedulerThread(settings)
    scheduler.start()
    try:
        assert wait_for_run(settings, DAG, run_id, timeout=60) == "success"
    finally:
        scheduler.stop(timeout=30)
    states = ti_states(settings, DAG, run_id)
    assert states["runme_0"] == "success" and states["run_after_loop"] == "success", states
    assert list(markers.iterdir()) == []
    assert stored_conf(settings.database_url, run_id) == conf

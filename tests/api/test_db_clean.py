"""`slipstream db clean`: what --dry-run lists is exactly what a real clean removes; each DAG's latest
(and latest scheduled) run and unfinished runs stay; the API answers correctly while a clean runs."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from slipstream.cli import app as cli
from slipstream.services import db_cleanup
from slipstream.services.db_cleanup import plan_cleanup
from slipstream.storage.db import session_scope
from slipstream.storage.models import AuditLog, DagRun, Job, TaskInstance, XCom
from tests.api.support import BASE, BASH_DAG

OTHER_DAG = "example_python_operator"
CUTOFF = datetime(2025, 1, 1, tzinfo=UTC)
OLD = datetime(2024, 1, 1, tzinfo=UTC)
NEW = datetime(2025, 6, 1, tzinfo=UTC)
TASKS = ("a", "b", "c")


def seed_runs(settings, dag_id: str, specs: list[tuple[str, str, str, datetime | None]], first_date: datetime) -> None:
    """Runs (run_id, run_type, state, start_date), each with TASKS' task instances, an XCom each and log files."""
    run_rows, ti_rows = [], []
    for number, (run_id, run_type, state, start) in enumerate(specs):
        run_rows.append(
            {
                "dag_id": dag_id,
                "run_id": run_id,
                "execution_date": first_date + timedelta(days=number),
                "state": state,
                "run_type": run_type,
                "external_trigger": run_type == "manual",
                "conf": {},
                "start_date": start,
                "end_date": start,
            }
        )
        for task_id in TASKS:
            ti_rows.append(
                {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": -1, "state": "success",
                 "start_date": start, "try_number": 1, "executor_config": {}}
            )  # fmt: skip
            log = settings.logs_folder / dag_id / run_id / task_id / "1.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text("a log line\n")
    with session_scope(settings.database_url) as session:
        session.execute(insert(DagRun), run_rows)
        session.execute(insert(TaskInstance), ti_rows)
        ids = dict(session.execute(select(DagRun.run_id, DagRun.id).where(DagRun.dag_id == dag_id)).all())
        session.execute(
            insert(XCom),
            [
                {"dag_run_id": ids[run_id], "task_id": task_id, "map_index": -1, "key": "return_value",
                 "dag_id": dag_id, "run_id": run_id, "value": "1", "timestamp": start or NEW}
                for run_id, _type, _state, start in specs
                for task_id in TASKS
            ],
        )  # fmt: skip


def everything(settings) -> dict[str, set]:
    with session_scope(settings.database_url, write=False) as session:
        return {
            "dag_run": set(session.scalars(select(DagRun.id))),
            "task_instance": set(session.scalars(select(TaskInstance.id))),
            "xcom": {
                tuple(r) for r in session.execute(select(XCom.dag_run_id, XCom.task_id, XCom.map_index, XCom.key))
            },
            "audit_log": set(session.scalars(select(AuditLog.id))),
            "job": set(session.scalars(select(Job.id))),
        }


def run_ids(settings, dag_id: str) -> set[str]:
    with session_scope(settings.database_url, write=False) as session:
        return set(session.scalars(select(DagRun.run_id).where(DagRun.dag_id == dag_id)))


@pytest.fixture
def cli_env(app_settings, monkeypatch):
    monkeypatch.setenv("SLIPSTREAM_HOME", str(app_settings.home))
    monkeypatch.setenv("SLIPSTREAM_DATABASE_URL", app_settings.database_url)
    return app_settings


@pytest.fixture
def seeded(cli_env):
    settings = cli_env
    seed_runs(
        settings,
        BASH_DAG,
        [
            ("scheduled_old_1", "scheduled", "success", OLD),
            ("scheduled_old_2", "scheduled", "failed", OLD + timedelta(hours=1)),
            ("manual_old_1", "manual", "success", OLD + timedelta(hours=2)),
            ("running_old", "manual", "running", OLD + timedelta(hours=3)),
            ("manual_new", "manual", "success", NEW),
        ],
        datetime(2024, 1, 1, tzinfo=UTC),
    )
    # Every run of this DAG is old: its latest run and its latest scheduled run stay anyway.
    seed_runs(
        settings,
        OTHER_DAG,
        [
            ("scheduled_old_a", "scheduled", "success", OLD),
            ("scheduled_old_b", "scheduled", "success", OLD + timedelta(hours=1)),
            ("manual_old_latest", "manual", "success", OLD + timedelta(hours=2)),
        ],
        datetime(2024, 1, 1, tzinfo=UTC),
    )
    with session_scope(settings.database_url) as session:
        session.execute(
            insert(AuditLog),
            [{"event": "old.event", "dttm": OLD}, {"event": "new.event", "dttm": NEW}],
        )
        session.execute(
            insert(Job),
            [{"job_type": "SchedulerJob", "state": "success", "latest_heartbeat": OLD, "start_date": OLD},
             {"job_type": "SchedulerJob", "state": "running", "latest_heartbeat": NEW, "start_date": NEW}],
        )  # fmt: skip
    return settings


def printed_counts(output: str) -> dict[str, int]:
    counts = {}
    for name in (*db_cleanup.TABLES, "log files and folders"):
        match = re.search(rf"{re.escape(name)}\s*│\s*([\d,]+)", output)
        assert match, (name, output)
        counts[name] = int(match.group(1).replace(",", ""))
    return counts


def test_dry_run_lists_exactly_what_a_real_clean_removes(seeded):
    settings = seeded
    runner = CliRunner()
    before = everything(settings)
    dry = runner.invoke(cli, ["db", "clean", "--clean-before-timestamp", CUTOFF.isoformat(), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert everything(settings) == before, "--dry-run changed something"
    plan = plan_cleanup(settings.database_url, settings.logs_folder, CUTOFF)
    assert printed_counts(dry.output) == plan.counts()

    real = runner.invoke(cli, ["db", "clean", "--clean-before-timestamp", CUTOFF.isoformat(), "--yes"])
    assert real.exit_code == 0, real.output
    after = everything(settings)
    assert set(plan.run_ids) == before["dag_run"] - after["dag_run"]
    assert set(plan.task_instance_ids) == before["task_instance"] - after["task_instance"]
    assert set(plan.xcom_keys) == before["xcom"] - after["xcom"]
    assert set(plan.job_ids) == before["job"] - after["job"]
    # The clean's own audit row is added after it ran.
    assert set(plan.audit_log_ids) == before["audit_log"] - after["audit_log"]
    assert printed_counts(dry.output)["dag_run"] == 3

    assert run_ids(settings, BASH_DAG) == {"scheduled_old_2", "running_old", "manual_new"}
    assert run_ids(settings, OTHER_DAG) == {"scheduled_old_b", "manual_old_latest"}
    for run_id in ("scheduled_old_1", "manual_old_1"):
        assert not (settings.logs_folder / BASH_DAG / run_id).exists()
    for run_id in ("scheduled_old_2", "running_old", "manual_new"):
        assert (settings.logs_folder / BASH_DAG / run_id / "a" / "1.log").exists()
    with session_scope(settings.database_url, write=False) as session:
        kept_tis = set(session.scalars(select(TaskInstance.run_id).where(TaskInstance.dag_id == BASH_DAG)))
        events = list(session.scalars(select(AuditLog.event)))
    assert {"scheduled_old_2", "running_old", "manual_new"} <= kept_tis
    assert "old.event" not in events and "new.event" in events and "db.clean" in events
    # Nothing older is left to remove.
    assert not any(plan_cleanup(settings.database_url, settings.logs_folder, CUTOFF).counts().values())


def test_tables_limit_what_is_cleaned(seeded):
    before = everything(seeded)
    result = CliRunner().invoke(
        cli, ["db", "clean", "--clean-before-timestamp", CUTOFF.isoformat(), "--tables", "log,job", "--yes"]
    )
    assert result.exit_code == 0, result.output
    after = everything(seeded)
    assert after["dag_run"] == before["dag_run"] and after["task_instance"] == before["task_instance"]
    assert len(before["audit_log"] - after["audit_log"]) == 1 and len(before["job"] - after["job"]) == 1


def test_clean_asks_before_removing(seeded):
    before = everything(seeded)
    result = CliRunner().invoke(cli, ["db", "clean", "--clean-before-timestamp", CUTOFF.isoformat()], input="n\n")
    assert result.exit_code == 1
    assert everything(seeded) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clean-before-timestamp", "not a date"], "could not be identified as a date"),
        (["--clean-before-timestamp", CUTOFF.isoformat(), "--tables", "dag_run,users"], "Unknown table 'users'"),
    ],
)
def test_bad_arguments_are_named(cli_env, args, message):
    result = CliRunner().invoke(cli, ["db", "clean", *args, "--yes"])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_a_clean_under_load_keeps_api_answers_correct(cli_env, client, monkeypatch):
    settings = cli_env
    old_runs = [(f"old_{n}", "scheduled", "success", OLD + timedelta(minutes=n)) for n in range(1500)]
    seed_runs(settings, BASH_DAG, [*old_runs, ("new_run", "manual", "success", NEW)], datetime(2020, 1, 1, tzinfo=UTC))
    monkeypatch.setattr(db_cleanup, "FIRST_BATCH", 50)
    monkeypatch.setattr(db_cleanup, "MAX_BATCH", 100)
    plan = plan_cleanup(settings.database_url, settings.logs_folder, CUTOFF)
    assert len(plan.run_ids) == 1499  # the latest scheduled run stays
    errors: list[BaseException] = []

    def clean() -> None:
        try:
            db_cleanup.run_cleanup(settings.database_url, plan)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    cleaner = threading.Thread(target=clean)
    cleaner.start()
    answers = 0
    all_ids = {run_id for run_id, *_ in old_runs} | {"new_run"}
    while cleaner.is_alive() or answers < 3:
        listed = client.get(f"{BASE}/dags/{BASH_DAG}/dag_runs")
        assert listed.status_code == 200, listed.text
        ids = {run["run_id"] for run in listed.json()}
        assert {"new_run", "old_1499"} <= ids <= all_ids
        latest = client.get(f"{BASE}/latest_runs")
        assert latest.status_code == 200, latest.text
        assert {item["dag_id"] for item in latest.json()["items"]} >= {BASH_DAG}
        triggered = client.post(
            f"{BASE}/dags/{OTHER_DAG}/dag_runs",
            json={"run_id": f"during_{answers}", "execution_date": (NEW + timedelta(seconds=answers)).isoformat()},
        )
        assert triggered.status_code == 200, triggered.text
        answers += 1
    cleaner.join()
    assert not errors, errors
    assert answers >= 3
    assert run_ids(settings, BASH_DAG) == {"new_run", "old_1499"}
    assert {f"during_{n}" for n in range(answers)} <= run_ids(settings, OTHER_DAG)

"""The dag processor on real files and a real SQLite DB: what a user sees after each pass."""

from __future__ import annotations

import hashlib
import os
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from slipstream.cli import app as cli_app
from slipstream.dag_processing import (
    EXAMPLE_DAGS_FOLDER,
    DagFileProcessorThread,
    FileCache,
    manager,
    process_all,
    process_file,
    run_dag_processor,
    timeout_message,
)
from slipstream.sdk.serialization import dag_hash
from slipstream.storage.db import session_scope
from slipstream.storage.models import DagCode, DagModel, DagRun, ImportErrorModel, Pool, SerializedDagModel

GOOD_DAG = """
from datetime import UTC, datetime

from slipstream.sdk import DAG, BashOperator, EmptyOperator

with DAG(
    "good_dag",
    description="A good DAG",
    schedule="@daily",
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=3,
    max_active_tasks=5,
    tags=["team"],
) as dag:
    first = BashOperator(task_id="first", bash_command="echo 1")
    second = EmptyOperator(task_id="second")
    first >> second
"""

RAISING_DAG = """
from slipstream.sdk import DAG
raise ValueError("boom")
"""

SYNTAX_ERROR_DAG = """
from slipstream.sdk import DAG
def (
"""


def simple_dag(dag_id: str, *task_ids: str, extra: str = "") -> str:
    tasks = "".join(f"    EmptyOperator(task_id={t!r})\n" for t in task_ids or ("only",))
    return (
        "from slipstream.sdk import DAG, EmptyOperator\n"
        f"with DAG({dag_id!r}, schedule=None{extra}) as dag_{dag_id}:\n{tasks}"
    )


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def read(settings):
    return session_scope(settings.database_url, write=False)


def dag_row(settings, dag_id: str) -> DagModel | None:
    with read(settings) as db:
        return db.get(DagModel, dag_id)


def serialized_row(settings, dag_id: str) -> SerializedDagModel | None:
    with read(settings) as db:
        return db.get(SerializedDagModel, dag_id)


def import_errors(settings) -> dict[str, str]:
    with read(settings) as db:
        return {row.filename: row.stacktrace for row in db.scalars(select(ImportErrorModel))}


def cli_env(settings) -> dict[str, str]:
    return {
        "SLIPSTREAM_HOME": str(settings.home),
        "SLIPSTREAM_DAGS_FOLDER": str(settings.dags_folder),
        "SLIPSTREAM_LOAD_EXAMPLES": "true" if settings.load_examples else "false",
        "SLIPSTREAM_DATABASE_URL": settings.database_url,
    }


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def pid_alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent (an orphan's reaper may be slow in a container)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


# -- a good file ------------------------------------------------------------------------------------


def test_good_file_stores_dag_tasks_edges_and_source(settings):
    path = write(settings.dags_folder, "good.py", GOOD_DAG)

    report = process_all(settings)

    assert report.dag_ids == ["good_dag"]
    assert report.import_errors == {}
    assert report.parsed == [str(path)]
    with read(settings) as db:
        dag = db.get(DagModel, "good_dag")
        assert (dag.is_active, dag.fileloc, dag.description) == (True, str(path), "A good DAG")
        assert (dag.schedule, dag.catchup, dag.max_active_runs, dag.max_active_tasks) == ("@daily", False, 3, 5)
        assert dag.tags == ["team"]
        assert dag.last_parsed_time is not None and dag.last_parsed_time.tzinfo is not None

        stored = db.get(SerializedDagModel, "good_dag")
        data = stored.data
        assert stored.fileloc == data["fileloc"] == str(path)
        assert stored.dag_hash == dag_hash(data)
        assert data["schedule"] == {"type": "cron", "cron": "0 0 * * *", "expression": "@daily"}
        assert data["start_date"] == "2024-01-01T00:00:00+00:00"
        assert list(data["tasks"]) == ["first", "second"]
        assert data["tasks"]["first"]["operator"] == "BashOperator"
        assert data["tasks"]["first"]["downstream_task_ids"] == ["second"]
        assert data["tasks"]["second"]["upstream_task_ids"] == ["first"]
        assert data["tasks"]["second"]["is_empty"] is True

        code = db.get(DagCode, str(path))
        assert code.source_code == path.read_text()
        assert code.source_hash == hashlib.sha256(path.read_bytes()).hexdigest()
        assert db.scalars(select(ImportErrorModel)).all() == []


def test_process_file_runs_the_file_as_a_fresh_module_and_keeps_stdout_for_the_result(tmp_path):
    path = write(
        tmp_path,
        "noisy.py",
        """
        import sys
        from slipstream.sdk import DAG, EmptyOperator
        print("{not json" * 1000)
        sys.stdout.flush()
        with DAG("noisy", schedule=None, description=__name__):
            EmptyOperator(task_id="t")
        """,
    )

    result = process_file(path, timeout=30)

    assert result.error is None
    assert result.dag_ids == ["noisy"]
    assert result.dags[0]["fileloc"] == str(path)
    assert result.dags[0]["description"].startswith("slipstream_dagfile_")
    assert result.source == path.read_text()


def test_a_file_that_exits_is_an_error(tmp_path):
    path = write(tmp_path, "exits.py", "import os\nfrom slipstream.sdk import DAG\nos._exit(3)\n")

    result = process_file(path, timeout=30)

    assert result.dags == []
    assert "exited with code 3" in result.error


# -- broken files -----------------------------------------------------------------------------------


def test_broken_files_record_import_errors_and_others_still_load(settings):
    syntax = write(settings.dags_folder, "a_syntax.py", SYNTAX_ERROR_DAG)
    raising = write(settings.dags_folder, "b_raises.py", RAISING_DAG)
    write(settings.dags_folder, "c_good.py", GOOD_DAG)

    report = process_all(settings)

    assert report.dag_ids == ["good_dag"]
    errors = import_errors(settings)
    assert set(errors) == {str(syntax), str(raising)}
    assert errors[str(raising)].startswith("Traceback (most recent call last):")
    assert f'File "{raising}", line 3, in <module>' in errors[str(raising)]
    assert errors[str(raising)].splitlines()[-1] == "ValueError: boom"
    assert f'File "{syntax}", line 3' in errors[str(syntax)]
    assert errors[str(syntax)].splitlines()[-1].startswith("SyntaxError:")
    assert dag_row(settings, "good_dag").is_active

    result = CliRunner().invoke(cli_app, ["dags", "list", "--json"], env=cli_env(settings))
    assert result.exit_code == 0, result.output
    listed = orjson.loads(result.stdout)
    assert [d["dag_id"] for d in listed["dags"]] == ["good_dag"]
    assert [e["filename"] for e in listed["import_errors"]] == [str(syntax), str(raising)]
    assert listed["import_errors"][1]["stacktrace"].endswith("ValueError: boom")

    result = CliRunner().invoke(cli_app, ["dags", "list"], env=cli_env(settings))
    assert result.exit_code == 0, result.output
    assert "ValueError: boom" in result.stdout

    # Fixing the file clears its error.
    write(settings.dags_folder, "b_raises.py", simple_dag("was_broken"))
    process_all(settings)
    assert set(import_errors(settings)) == {str(syntax)}
    assert dag_row(settings, "was_broken").is_active


def test_a_file_that_breaks_keeps_its_last_good_dag_until_fixed(settings):
    path = write(settings.dags_folder, "flaky.py", simple_dag("flaky", "a", "b"))
    process_all(settings)
    write(settings.dags_folder, "flaky.py", RAISING_DAG)

    process_all(settings)

    assert dag_row(settings, "flaky").is_active
    assert list(serialized_row(settings, "flaky").data["tasks"]) == ["a", "b"]
    assert str(path) in import_errors(settings)


def test_a_hanging_file_times_out_is_killed_and_the_pass_finishes(settings, tmp_path):
    pid_file = tmp_path / "hang.pid"
    hanging = write(
        settings.dags_folder,
        "hang.py",
        f"""
        import os, subprocess, time
        from slipstream.sdk import DAG
        sleeper = subprocess.Popen(["sleep", "60"])  # holds the child's stdout and stderr open
        open({str(pid_file)!r}, "w").write(f"{{os.getpid()}} {{sleeper.pid}}")
        time.sleep(60)
        """,
    )
    write(settings.dags_folder, "good.py", GOOD_DAG)
    settings = settings.with_overrides(dag_file_processor_timeout=2)

    started = time.monotonic()
    report = process_all(settings)
    elapsed = time.monotonic() - started

    assert elapsed < 8
    assert report.dag_ids == ["good_dag"]
    assert import_errors(settings) == {str(hanging): "Timeout: DAG file took longer than 2 s to import"}
    assert timeout_message(2) == "Timeout: DAG file took longer than 2 s to import"
    pids = [int(pid) for pid in pid_file.read_text().split()]
    assert wait_until(lambda: not any(pid_alive(pid) for pid in pids), timeout=3)


def test_duplicate_dag_ids_are_import_errors(settings):
    both = write(
        settings.dags_folder,
        "a_both.py",
        """
        from slipstream.sdk import DAG, EmptyOperator
        first = DAG("twice", schedule=None)
        EmptyOperator(task_id="one", dag=first)
        second = DAG("twice", schedule=None)
        EmptyOperator(task_id="two", dag=second)
        """,
    )
    owner = write(settings.dags_folder, "b_owner.py", simple_dag("shared", "from_b"))
    process_all(settings)
    thief = write(settings.dags_folder, "a_thief.py", simple_dag("shared", "from_a"))

    process_all(settings)

    errors = import_errors(settings)
    assert "Ignoring DAG twice" in errors[str(both)]
    assert list(serialized_row(settings, "twice").data["tasks"]) == ["one"]
    # The file that already owned the dag_id keeps it, even though the newcomer sorts first.
    assert errors[str(thief)] == (
        f"AirflowDagDuplicatedIdException: Ignoring DAG shared from {thief} - also found in {owner}"
    )
    assert dag_row(settings, "shared").fileloc == str(owner)
    assert list(serialized_row(settings, "shared").data["tasks"]) == ["from_b"]


def test_a_cyclic_dag_is_an_import_error(settings):
    path = write(
        settings.dags_folder,
        "cycle.py",
        """
        from slipstream.sdk import DAG, EmptyOperator
        with DAG("cyclic", schedule=None):
            a = EmptyOperator(task_id="a")
            b = EmptyOperator(task_id="b")
            a >> b >> a
        """,
    )

    process_all(settings)

    assert "Cycle detected in DAG: cyclic" in import_errors(settings)[str(path)]
    assert dag_row(settings, "cyclic") is None


# -- which files ------------------------------------------------------------------------------------


def test_only_dag_files_are_imported_and_helpers_next_to_them_can_be_imported(settings):
    write(settings.dags_folder, "helpers.py", "raise RuntimeError('a helper is never parsed')\nOWNER = 'team'\n")
    write(settings.dags_folder, "_private.py", RAISING_DAG)
    write(settings.dags_folder, ".hidden.py", RAISING_DAG)
    write(settings.dags_folder, "__pycache__/cached.py", RAISING_DAG)
    write(settings.dags_folder, "notes.txt", RAISING_DAG)
    write(settings.dags_folder, "lib/tools.py", "VALUE = 'tag-from-helper'\n")
    nested = write(
        settings.dags_folder,
        "team/nested.py",
        """
        from lib.tools import VALUE
        from slipstream.sdk import DAG, EmptyOperator
        with DAG("nested", schedule=None, tags=[VALUE]):
            EmptyOperator(task_id="t")
        """,
    )

    report = process_all(settings)

    assert report.files == [str(nested)]
    assert import_errors(settings) == {}
    assert dag_row(settings, "nested").tags == ["tag-from-helper"]


def test_dags_opened_with_a_context_manager_count_even_without_a_variable(settings):
    write(
        settings.dags_folder,
        "anon.py",
        """
        from slipstream.sdk import DAG, EmptyOperator
        with DAG("anonymous", schedule=None):
            EmptyOperator(task_id="t")
        """,
    )

    assert process_all(settings).dag_ids == ["anonymous"]


# -- files that change or go ------------------------------------------------------------------------


def test_a_removed_file_deactivates_its_dags_and_keeps_their_runs(settings, session):
    path = write(settings.dags_folder, "gone.py", simple_dag("gone"))
    process_all(settings)
    session.add(
        DagRun(dag_id="gone", run_id="manual__1", execution_date=datetime(2024, 1, 1, tzinfo=UTC), state="success")
    )
    session.commit()
    path.unlink()

    report = process_all(settings)

    assert report.deactivated == ["gone"]
    dag = dag_row(settings, "gone")
    assert dag is not None and dag.is_active is False
    assert serialized_row(settings, "gone") is None
    with read(settings) as db:
        assert db.get(DagCode, str(path)) is None
        assert db.scalars(select(DagRun.run_id).where(DagRun.dag_id == "gone")).all() == ["manual__1"]


def test_a_changed_file_updates_tasks_and_drops_dags_it_no_longer_defines(settings):
    path = write(settings.dags_folder, "changing.py", simple_dag("changing", "a") + simple_dag("leaving"))
    process_all(settings)
    before = serialized_row(settings, "changing")
    write(settings.dags_folder, "changing.py", simple_dag("changing", "a", "new_task"))

    report = process_all(settings)

    after = serialized_row(settings, "changing")
    assert list(after.data["tasks"]) == ["a", "new_task"]
    assert after.dag_hash != before.dag_hash
    assert after.last_updated > before.last_updated
    assert report.deactivated == ["leaving"]
    assert dag_row(settings, "leaving").is_active is False
    assert serialized_row(settings, "leaving") is None
    with read(settings) as db:
        assert "new_task" in db.get(DagCode, str(path)).source_code


def test_an_unchanged_dag_keeps_its_serialized_timestamp(settings):
    write(settings.dags_folder, "same.py", simple_dag("same"))
    process_all(settings)
    before = serialized_row(settings, "same")

    process_all(settings)

    after = serialized_row(settings, "same")
    assert (after.dag_hash, after.last_updated) == (before.dag_hash, before.last_updated)
    assert dag_row(settings, "same").last_parsed_time > before.last_updated


def test_the_cache_skips_unchanged_files_but_notices_changes_and_removals(settings):
    a = write(settings.dags_folder, "a.py", simple_dag("dag_a"))
    b = write(settings.dags_folder, "b.py", simple_dag("dag_b"))
    broken = write(settings.dags_folder, "c.py", RAISING_DAG)
    cache = FileCache()
    assert sorted(process_all(settings, cache=cache).parsed) == [str(a), str(b), str(broken)]

    second = process_all(settings, cache=cache)
    assert (second.parsed, sorted(second.skipped)) == ([], [str(a), str(b), str(broken)])
    assert set(import_errors(settings)) == {str(broken)}

    write(settings.dags_folder, "b.py", simple_dag("dag_b", "one", "two"))
    assert process_all(settings, cache=cache).parsed == [str(b)]
    assert list(serialized_row(settings, "dag_b").data["tasks"]) == ["one", "two"]

    # A DAG deleted behind the processor's back (DELETE /dags/<id>) comes back on the next pass.
    with session_scope(settings.database_url) as db:
        db.execute(delete(SerializedDagModel).where(SerializedDagModel.dag_id == "dag_a"))
        db.execute(delete(DagModel).where(DagModel.dag_id == "dag_a"))
    assert process_all(settings, cache=cache).parsed == [str(a)]
    assert dag_row(settings, "dag_a").is_active

    b.unlink()
    report = process_all(settings, cache=cache)
    assert report.parsed == [] and report.deactivated == ["dag_b"]


# -- pausing ----------------------------------------------------------------------------------------


def test_first_seen_dags_get_the_pause_default_and_existing_rows_keep_theirs(settings):
    write(settings.dags_folder, "default.py", simple_dag("by_default"))
    write(settings.dags_folder, "explicit.py", simple_dag("explicit", extra=", is_paused_upon_creation=False"))
    paused_settings = settings.with_overrides(dags_are_paused_at_creation=True)

    process_all(paused_settings)

    assert dag_row(settings, "by_default").is_paused is True
    assert dag_row(settings, "explicit").is_paused is False

    with session_scope(settings.database_url) as db:
        db.get(DagModel, "by_default").is_paused = False
        db.get(DagModel, "explicit").is_paused = True
    write(settings.dags_folder, "default.py", simple_dag("by_default", "changed"))
    process_all(paused_settings)
    process_all(settings)

    assert dag_row(settings, "by_default").is_paused is False
    assert dag_row(settings, "explicit").is_paused is True


# -- example DAGs -----------------------------------------------------------------------------------


def test_example_dags_load_only_when_enabled_with_their_pool(settings):
    process_all(settings)
    with read(settings) as db:
        assert db.scalars(select(DagModel.dag_id)).all() == []
        assert db.scalar(select(Pool).where(Pool.pool == "example_single_slot_pool")) is None

    report = process_all(settings.with_overrides(load_examples=True))

    assert report.import_errors == {}
    assert sorted(report.dag_ids) == [
        "example_bash_operator",
        "example_pool",
        "example_python_operator",
        "example_taskflow",
    ]
    assert report.example_pool_created is True
    with read(settings) as db:
        pool = db.scalar(select(Pool).where(Pool.pool == "example_single_slot_pool"))
        assert (pool.slots, pool.description) == (1, "Used by example_pool")
        pool_dag = db.get(SerializedDagModel, "example_pool").data
        assert {t["pool"] for t in pool_dag["tasks"].values()} == {"example_single_slot_pool"}
        python_dag = db.get(SerializedDagModel, "example_python_operator").data
        assert python_dag["schedule"]["type"] == "none"
        assert python_dag["tasks"]["print_the_context"]["downstream_task_ids"] == [f"sleep_for_{i}" for i in range(5)]

    # A pool the user changed is left alone; turning examples off deactivates them.
    with session_scope(settings.database_url) as db:
        db.scalar(select(Pool).where(Pool.pool == "example_single_slot_pool")).slots = 3
    assert process_all(settings.with_overrides(load_examples=True)).example_pool_created is False
    report = process_all(settings)
    assert sorted(report.deactivated) == [
        "example_bash_operator",
        "example_pool",
        "example_python_operator",
        "example_taskflow",
    ]
    with read(settings) as db:
        assert db.scalar(select(Pool.slots).where(Pool.pool == "example_single_slot_pool")) == 3


def test_example_bash_operator_is_serialized_like_airflow(settings):
    process_all(settings.with_overrides(load_examples=True))

    data = serialized_row(settings, "example_bash_operator").data
    tasks = data["tasks"]
    assert sorted(tasks) == sorted(
        ["runme_0", "runme_1", "runme_2", "run_after_loop", "also_run_this", "this_will_skip", "run_this_last"]
    )
    assert data["schedule"]["cron"] == "0 0 * * *"
    assert data["start_date"] == "2021-01-01T00:00:00+00:00"
    assert (data["catchup"], data["dagrun_timeout"]) == (False, 3600.0)
    assert data["tags"] == ["example", "example2"]
    assert data["params"] == {"example_key": {"default": "example_value", "description": None, "schema": {}}}
    downstream = {task_id: task["downstream_task_ids"] for task_id, task in tasks.items()}
    assert downstream == {
        "runme_0": ["run_after_loop"],
        "runme_1": ["run_after_loop"],
        "runme_2": ["run_after_loop"],
        "run_after_loop": ["run_this_last"],
        "also_run_this": ["run_this_last"],
        "this_will_skip": ["run_this_last"],
        "run_this_last": [],
    }
    weights = {task_id: task["priority_weight_total"] for task_id, task in tasks.items()}
    assert weights == {
        "runme_0": 3,
        "runme_1": 3,
        "runme_2": 3,
        "run_after_loop": 2,
        "also_run_this": 2,
        "this_will_skip": 2,
        "run_this_last": 1,
    }
    assert {t["operator"] for k, t in tasks.items() if k != "run_this_last"} == {"BashOperator"}
    assert tasks["run_this_last"]["operator"] == "EmptyOperator" and tasks["run_this_last"]["is_empty"]

    display = tasks["runme_0"]["display"]
    assert display["retry_delay"] == "0:05:00"
    assert display["owner"] == "airflow"
    assert display["email"] == "None"
    assert display["pool"] == "default_pool"
    assert display["queue"] == "default"
    assert display["priority_weight"] == "1"
    assert display["trigger_rule"] == "all_success"
    assert display["downstream_task_ids"] == "{'run_after_loop'}"
    assert display["upstream_task_ids"] == "set()"
    assert display["params"] == "{'example_key': 'example_value'}"
    assert display["start_date"] == "2021-01-01 00:00:00+00:00"
    assert display["bash_command"] == 'echo "{{ task_instance_key_str }}" && sleep 1'
    assert tasks["this_will_skip"]["display"]["bash_command"] == 'echo "hello world"; exit 99;'
    assert tasks["also_run_this"]["display"]["bash_command"] == 'echo "ti_key={{ task_instance_key_str }}"'
    assert tasks["run_after_loop"]["display"]["bash_command"] == "echo https://airflow.apache.org/"

    fileloc = str(EXAMPLE_DAGS_FOLDER / "example_bash_operator.py")
    assert dag_row(settings, "example_bash_operator").fileloc == fileloc
    with read(settings) as db:
        assert "BashOperator(" in db.get(DagCode, fileloc).source_code


def test_no_example_puts_client_values_into_a_shell_command():
    for path in EXAMPLE_DAGS_FOLDER.glob("*.py"):
        text = path.read_text()
        for forbidden in ("dag_run.conf", "{{ params", "{{params", "conf["):
            assert forbidden not in text, f"{path.name} uses {forbidden}"


# -- the loop, the thread, concurrency --------------------------------------------------------------


def test_reserialize_command_parses_and_reports(settings):
    write(settings.dags_folder, "good.py", GOOD_DAG)
    write(settings.dags_folder, "bad.py", RAISING_DAG)

    result = CliRunner().invoke(cli_app, ["dags", "reserialize"], env=cli_env(settings))

    assert result.exit_code == 0, result.output
    assert "1 DAGs written, 1 import errors" in " ".join(result.stdout.split())
    assert "ValueError: boom" in result.stdout
    assert dag_row(settings, "good_dag").is_active


def test_processor_thread_picks_up_new_files_and_stops_promptly(settings, tmp_path):
    write(settings.dags_folder, "first.py", simple_dag("first"))
    processor = DagFileProcessorThread(settings, interval=0.1)
    processor.start()
    try:
        assert processor.wait_for_first_pass(timeout=30)
        assert dag_row(settings, "first").is_active
        write(settings.dags_folder, "second.py", simple_dag("second"))
        assert wait_until(lambda: dag_row(settings, "second") is not None)

        pid_file = tmp_path / "hang.pid"
        write(
            settings.dags_folder,
            "hang.py",
            f"import os, time\nfrom slipstream.sdk import DAG\n"
            f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n",
        )
        assert wait_until(lambda: pid_file.exists() and pid_file.read_text() != "")
    finally:
        started = time.monotonic()
        processor.stop(timeout=10)
    assert not processor.is_alive()
    assert time.monotonic() - started < 5
    assert wait_until(lambda: not pid_alive(int(pid_file.read_text())), timeout=3)


def test_a_failing_pass_does_not_stop_the_loop(settings, monkeypatch):
    write(settings.dags_folder, "good.py", GOOD_DAG)
    real = manager.process_all
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(manager, "process_all", flaky)
    stop = threading.Event()
    reports = []

    def on_pass(report):
        reports.append(report)
        if report is not None:
            stop.set()

    loop = threading.Thread(target=run_dag_processor, args=(settings, stop, 0.05), kwargs={"on_pass": on_pass})
    loop.start()
    loop.join(timeout=30)

    assert not loop.is_alive()
    assert reports[0] is None and reports[-1].dag_ids == ["good_dag"]


def test_a_pass_retries_once_when_another_process_wrote_first(settings, monkeypatch):
    write(settings.dags_folder, "good.py", GOOD_DAG)
    real = manager.sync_results
    calls = []

    def collides_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise IntegrityError("INSERT INTO dag", {}, Exception("UNIQUE constraint failed: dag.dag_id"))
        return real(*args, **kwargs)

    monkeypatch.setattr(manager, "sync_results", collides_once)

    report = process_all(settings)

    assert len(calls) == 2
    assert report.dag_ids == ["good_dag"]
    assert dag_row(settings, "good_dag").is_active


def test_a_pass_given_a_session_writes_in_it_and_leaves_the_commit_to_the_caller(settings):
    write(settings.dags_folder, "good.py", GOOD_DAG)

    with session_scope(settings.database_url) as db:
        report = process_all(settings, db)
        assert db.get(DagModel, "good_dag") is not None
        db.rollback()

    assert report.dag_ids == ["good_dag"]
    assert dag_row(settings, "good_dag") is None


def test_two_passes_at_once_leave_one_consistent_state(settings):
    for i in range(3):
        write(settings.dags_folder, f"dag_{i}.py", simple_dag(f"dag_{i}"))
    errors = []

    def run():
        try:
            process_all(settings)
        except Exception as exc:  # pragma: no cover - the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    with read(settings) as db:
        assert db.scalars(select(DagModel.dag_id).where(DagModel.is_active)).all() == ["dag_0", "dag_1", "dag_2"]
        assert len(db.scalars(select(SerializedDagModel.dag_id)).all()) == 3
    assert import_errors(settings) == {}


@pytest.mark.parametrize("missing", [True, False])
def test_a_missing_or_empty_dags_folder_is_not_an_error(settings, missing):
    if missing:
        settings.dags_folder.rmdir()
    report = process_all(settings)
    assert report.files == [] and report.dag_ids == []


# -- what the stable API reads: next runs, pool warnings, reparse requests -----------------------------


def test_a_new_dag_gets_its_next_run_whether_paused_or_not(settings):
    write(settings.dags_folder, "good.py", GOOD_DAG)
    process_all(settings.with_overrides(dags_are_paused_at_creation=True))
    row = dag_row(settings, "good_dag")
    assert row.is_paused
    assert row.next_dagrun is not None
    assert row.next_dagrun_data_interval_end - row.next_dagrun_data_interval_start == timedelta(days=1)
    assert row.next_dagrun_create_after == row.next_dagrun_data_interval_end
    write(settings.dags_folder, "none.py", simple_dag("unscheduled"))
    process_all(settings)
    assert dag_row(settings, "unscheduled").next_dagrun is None


def test_a_task_in_a_missing_pool_is_a_warning_until_the_pool_exists(settings):
    from slipstream.storage.models import DagWarning

    write(
        settings.dags_folder,
        "pooled.py",
        simple_dag("pooled", extra="")
        + "    EmptyOperator(task_id='a', pool='zeta_pool')\n    EmptyOperator(task_id='b', pool='alpha_pool')\n",
    )
    process_all(settings)
    with read(settings) as db:
        (warning,) = db.scalars(select(DagWarning)).all()
        assert (warning.dag_id, warning.warning_type) == ("pooled", "non-existent pool")
        assert warning.message == "Dag 'pooled' references non-existent pools: ['alpha_pool', 'zeta_pool']"
    with session_scope(settings.database_url) as db:
        db.add_all([Pool(pool="alpha_pool", slots=1), Pool(pool="zeta_pool", slots=1)])
    process_all(settings, cache=FileCache())
    with read(settings) as db:
        assert db.scalars(select(DagWarning)).all() == []


def test_a_reparse_request_wakes_the_processor_before_its_interval(settings):
    from slipstream.services.reparse import request_reparse

    path = write(settings.dags_folder, "first.py", simple_dag("first"))
    processor = DagFileProcessorThread(settings, interval=300)
    processor.start()
    try:
        assert processor.wait_for_first_pass(timeout=30)
        path.write_text(simple_dag("first", extra=", description='changed'"))
        with session_scope(settings.database_url) as db:
            assert request_reparse(db, str(path), datetime.now(UTC))
        assert wait_until(lambda: dag_row(settings, "first").description == "changed", timeout=20)
        with read(settings) as db:
            assert db.get(DagCode, str(path)).source_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    finally:
        processor.stop()

"""The warm fork server of a Celery worker process: one per process, reused for every try, replaced
when it dies. The task processes tell their parent (the fork server) with os.getppid()."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from sqlalchemy import select, update

from slipstream.storage.db import session_scope
from slipstream.storage.models import TaskInstance
from tests.celery.support import start_scheduler, start_worker
from tests.engine.support import add_dag, ti_states, trigger, wait_for, wait_for_run

PARENTS_DAG = """
import os
from datetime import UTC, datetime

from slipstream.sdk import DAG, PythonOperator, chain


def note_parent(task_id):
    with open({path!r}, "a") as out:
        out.write(f"{{task_id}} {{os.getpid()}} {{os.getppid()}}\\n")


with DAG("{dag_id}", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
    chain(
        *[
            PythonOperator(task_id=f"step_{{i}}", python_callable=note_parent, op_args=[f"step_{{i}}"])
            for i in range({steps})
        ]
    )
"""


def parents_dag(path: Path, dag_id: str, steps: int) -> str:
    return PARENTS_DAG.format(path=str(path), dag_id=dag_id, steps=steps)


def read_parents(path: Path) -> list[tuple[str, int, int]]:
    rows = []
    for line in path.read_text().splitlines():
        task_id, pid, ppid = line.split()
        rows.append((task_id, int(pid), int(ppid)))
    return rows


def test_one_fork_server_runs_every_try_of_a_worker_process(settings, redis_broker):
    path = settings.home / "parents.txt"
    add_dag(settings, "reused", parents_dag(path, "reused", 4))
    run_id = trigger(settings, "reused")
    with start_worker(settings, redis_broker, concurrency=1) as worker, start_scheduler(settings, redis_broker):
        assert wait_for_run(settings, "reused", run_id, timeout=45) == "success"
        output = worker.output()
    rows = read_parents(path)
    assert [task_id for task_id, _, _ in rows] == [f"step_{i}" for i in range(4)]
    parents = {ppid for _, _, ppid in rows}
    assert len(parents) == 1, rows
    assert len({pid for _, pid, _ in rows}) == 4  # a new task process per try, from the same fork server
    (parent,) = parents
    assert output.count("Started a fork server") == 1, output
    assert f"Started a fork server (pid {parent})" in output
    assert output.count(f"(fork server pid {parent})") == 4


def test_a_killed_fork_server_is_replaced_before_the_next_try(settings, redis_broker):
    path = settings.home / "parents.txt"
    add_dag(settings, "replaced", parents_dag(path, "replaced", 1))
    with start_worker(settings, redis_broker, concurrency=1) as worker, start_scheduler(settings, redis_broker):
        first_run = trigger(settings, "replaced")
        assert wait_for_run(settings, "replaced", first_run, timeout=45) == "success"
        (_, _, first_parent), *_ = read_parents(path)
        os.kill(first_parent, signal.SIGKILL)
        second_run = trigger(settings, "replaced")
        assert wait_for_run(settings, "replaced", second_run, timeout=45) == "success"
        # The worker goes on with the new fork server.
        third_run = trigger(settings, "replaced")
        assert wait_for_run(settings, "replaced", third_run, timeout=45) == "success"
        output = worker.output()
    parents = [ppid for _, _, ppid in read_parents(path)]
    assert len(parents) == 3 and parents[0] == first_parent
    assert parents[1] != first_parent and parents[2] == parents[1]
    assert f"The fork server (pid {first_parent}) exited" in output
    assert output.count("Started a fork server") == 2, output


def _queue(settings, dag_id: str, run_id: str, task_id: str) -> dict:
    with session_scope(settings.database_url) as db:
        db.execute(
            update(TaskInstance)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id)
            .values(state="queued", try_number=1)
        )
        ti_id = db.scalar(
            select(TaskInstance.id).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id
            )
        )
    return {
        "ti_id": ti_id,
        "try_number": 1,
        "dag_id": dag_id,
        "task_id": task_id,
        "run_id": run_id,
        "map_index": -1,
        "fileloc": str(settings.dags_folder / f"{dag_id}.py"),
        "job_id": None,
    }


def test_run_task_instance_in_process_reuses_then_replaces_its_fork_server(settings):
    """Without a broker: run_task_instance as a worker process calls it, twice on one fork server, then
    once more after that fork server was SIGKILLed (not yet reaped: the send or the read finds it gone)."""
    from slipstream.scheduler.executors import celery_app

    path = settings.home / "parents.txt"
    add_dag(settings, "direct", parents_dag(path, "direct", 3))
    run_id = trigger(settings, "direct")
    try:
        assert celery_app.run_task_instance(settings, _queue(settings, "direct", run_id, "step_0")) == "success"
        first = celery_app.fork_server(settings)
        assert celery_app.run_task_instance(settings, _queue(settings, "direct", run_id, "step_1")) == "success"
        assert celery_app.fork_server(settings) is first
        os.kill(first.pid, signal.SIGKILL)
        assert celery_app.run_task_instance(settings, _queue(settings, "direct", run_id, "step_2")) == "success"
        second = celery_app.fork_server(settings)
        assert second is not first and second.alive and not first.alive
    finally:
        celery_app.close_fork_server()
    parents = [ppid for _, _, ppid in read_parents(path)]
    assert parents == [first.pid, first.pid, second.pid]
    states = ti_states(settings, "direct", run_id)
    assert states == {"step_0": "success", "step_1": "success", "step_2": "success"}
    wait_for(lambda: second.process.poll() is not None, 10, "the closed fork server to exit")


# A stand-in fork server: after two "run" requests it reports an unrelated try, then the second try,
# then the first (the order several tries of one worker process could finish in).
FAKE_FORK_SERVER = r"""
import json, sys
runs = []
for line in sys.stdin:
    request = json.loads(line)
    if request.get("op") == "run":
        runs.append(request)
        print(json.dumps({"event": "started", "ti_id": request["ti_id"], "try_number": 1, "pid": 1}), flush=True)
    if len(runs) == 2:
        print(json.dumps({"event": "exited", "ti_id": 999, "try_number": 1, "state": "success"}), flush=True)
        for request in reversed(runs):
            event = {"event": "exited", "ti_id": request["ti_id"], "try_number": 1, "state": f"done {request['ti_id']}"}
            print(json.dumps(event), flush=True)
        runs = []
"""


def test_events_of_other_tries_are_kept_for_their_waiters(settings):
    import sys
    import threading

    from slipstream.scheduler.executors.celery_app import WarmForkServer

    server = WarmForkServer(settings, command=[sys.executable, "-c", FAKE_FORK_SERVER])
    results: dict[int, object] = {}

    def run(ti_id: int) -> None:
        assert server.send({"op": "run", "ti_id": ti_id, "try_number": 1})
        results[ti_id] = server.wait_exited(ti_id, 1)

    try:
        threads = [threading.Thread(target=run, args=(ti_id,)) for ti_id in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert {ti_id: event["state"] for ti_id, event in results.items()} == {1: "done 1", 2: "done 2"}
        # One thread alone, its event after another try's: found, not a hang.
        assert server.send({"op": "run", "ti_id": 3, "try_number": 1})
        assert server.send({"op": "run", "ti_id": 4, "try_number": 1})
        assert server.wait_exited(3, 1)["state"] == "done 3"
        assert server.wait_exited(4, 1)["state"] == "done 4"  # kept while try 3 was awaited
    finally:
        server.close()
    assert server.process.poll() is not None
    assert server.wait_exited(5, 1) is None  # gone: no event will come

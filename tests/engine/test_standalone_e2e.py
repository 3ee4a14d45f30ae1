"""`slipstream standalone`: API, dag processor and scheduler in one command; Ctrl-C stops all of it."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx

from tests.engine.support import wait_for
from tests.live_server import SLIPSTREAM, environment, free_port


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children, grandchildren...), from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(") ", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(entry)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(") ", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_standalone_runs_a_dag_and_ctrl_c_stops_everything(settings):
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/experimental"
    env = environment(
        settings,
        SLIPSTREAM_PORT=str(port),
        SLIPSTREAM_AUTH_BACKEND="default",
        SLIPSTREAM_LOAD_EXAMPLES="true",
        SLIPSTREAM_DAG_DIR_LIST_INTERVAL="2",
        SLIPSTREAM_SCHEDULER_LOOP_INTERVAL="0.02",
    )
    log = open(settings.home / "standalone.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([*SLIPSTREAM, "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:

        def dag_is_served() -> bool:
            try:
                return httpx.get(f"{base}/dags/example_bash_operator/paused", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(dag_is_served, 60, "the API to serve example_bash_operator")
        response = httpx.post(f"{base}/dags/example_bash_operator/dag_runs", json={}, timeout=10)
        assert response.status_code == 200, response.text
        execution_date = response.json()["execution_date"]

        def run_state() -> str | None:
            state = httpx.get(f"{base}/dags/example_bash_operator/dag_runs/{execution_date}", timeout=5).json()["state"]
            return state if state in ("success", "failed") else None

        assert wait_for(run_state, 60, "the run to finish") == "success"

        components = descendants(process.pid)
        assert len(components) >= 4  # dag processor, scheduler, its fork server, API
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert process.wait(40) == 0
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in components) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in components if alive(pid)], "orphan processes left behind"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()

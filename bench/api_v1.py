"""Stable API (/api/v1) throughput and latency: one uvicorn worker serving the real app, under 16 clients,
beside GET /api/experimental/test (baseline A) in the same run.

    python -m bench.api_v1                      # SQLite (WAL) in a temp SLIPSTREAM_HOME, 1 worker
    python -m bench.api_v1 --rounds 2           # shorter
    python -m bench.api_v1 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Stores, in bulk (bench/_bulk.py): 100 DAG rows (the example DAGs and copies of example_bash_operator),
100 finished runs of example_bash_operator with their task instances, and runs of the copies until
10,000 task instances are stored. Then measures, interleaved in 1 s slices with A (bench/_load.py):
GET /api/v1/version (the v1 floor), the DAG list (GET /dags, 100 DAGs), the run list (GET
/dags/{id}/dagRuns, 100 runs), one run's task instances (GET .../dagRuns/{id}/taskInstances), the batch
task-instance list (POST /dags/~/dagRuns/~/taskInstances/list, 10,000 stored) and, in a phase of its
own because it adds runs, triggers (POST /dags/{id}/dagRuns). Beside each: the target, 10x real Airflow
2.10.5's figure for the same call (110 req/s for lists, 57/s for triggers) with at most a tenth of its
p99 (40 ms). A line whose endpoint the server does not have (404 or 405 to a first request) is skipped,
saying why. It prints; it never asserts.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.api import (
    AIRFLOW_FACTOR,
    AIRFLOW_P99_MS,
    AIRFLOW_RUN_LIST_RPS,
    AIRFLOW_TRIGGERS_PER_S,
    BASE,
    DAG_ID,
    REPO_ROOT,
    Line,
    _process_all,
    measure,
    measurement_arguments,
    running_server,
    scratch_postgres,
)

V1 = "/api/v1"
DAG_ROWS = 100
RUNS = 100
TASK_INSTANCES = 10_000
COPY_PREFIX = "bench_copy_"
TRIGGER_DATE = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
# Real Airflow 2.10.5 on a machine like this one (bench/api.py): lists, triggers; Slipstream's goal is
# AIRFLOW_FACTOR times the throughput with 1/AIRFLOW_FACTOR of the p99.
AIRFLOW_LIST_RPS = AIRFLOW_RUN_LIST_RPS


def trigger_body(n: int) -> bytes:
    """The n-th trigger's body: its own dag_run_id and logical date (one second apart)."""
    when = (TRIGGER_DATE + dt.timedelta(seconds=n)).isoformat()
    return b'{"dag_run_id": "bench_v1_%d", "logical_date": "%s"}' % (n, when.encode())


def empty_body(_n: int) -> bytes:
    return b"{}"


@dataclass(frozen=True)
class V1Line:
    line: Line
    reference: float | None  # Airflow's req/s for the same call; None for lines without a target
    spec_path: str  # the operation in openapi/v1.yaml, to say which one is missing
    probe_body: bytes = b""


# -- the database ---------------------------------------------------------------------------------


def seed(settings) -> dict:
    """Migrate, load the example DAGs, then store in bulk: DAG rows up to DAG_ROWS (copies of DAG_ID with
    its serialized DAG), RUNS runs of DAG_ID and runs of the copies until TASK_INSTANCES task instances.
    Returns what was stored, and a run id of DAG_ID to list the task instances of."""
    from sqlalchemy import func, select

    from bench._bulk import generate
    from slipstream.storage.db import session_scope
    from slipstream.storage.migrations.runner import upgrade
    from slipstream.storage.models import DagModel, SerializedDagModel, TaskInstance

    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url, default_pool_slots=settings.default_pool_slots)
    report = _process_all()(settings)
    if DAG_ID not in report.dag_ids:
        raise RuntimeError(f"{DAG_ID} was not loaded: {report.summary()}")
    with session_scope(settings.database_url) as session:
        source = session.get(DagModel, DAG_ID)
        serialized = session.get(SerializedDagModel, DAG_ID)
        task_ids = sorted(serialized.data["tasks"])
        stored = session.scalar(select(func.count()).select_from(DagModel))
        copies = [f"{COPY_PREFIX}{i:03d}" for i in range(max(0, DAG_ROWS - stored))]
        columns = [c.key for c in DagModel.__table__.columns if c.key != "dag_id"]
        for dag_id in copies:
            session.add(DagModel(dag_id=dag_id, **{c: getattr(source, c) for c in columns}))
            session.add(
                SerializedDagModel(
                    dag_id=dag_id,
                    fileloc=serialized.fileloc,
                    data={**serialized.data, "dag_id": dag_id},
                    dag_hash=serialized.dag_hash,
                )
            )
    other_runs = math.ceil(max(0, TASK_INSTANCES - RUNS * len(task_ids)) / len(task_ids))
    generate(settings.database_url, DAG_ID, RUNS, len(task_ids), other_runs, task_ids=task_ids, other_dag_ids=copies)
    with session_scope(settings.database_url, write=False) as session:
        counts = {
            "dags": session.scalar(select(func.count()).select_from(DagModel)),
            "task_instances": session.scalar(select(func.count()).select_from(TaskInstance)),
            "run_id": session.scalar(
                select(TaskInstance.run_id).where(TaskInstance.dag_id == DAG_ID).order_by(TaskInstance.run_id).limit(1)
            ),
        }
    return counts


# -- probing --------------------------------------------------------------------------------------


def declared(port: int) -> set[tuple[str, str]]:
    """(METHOD, path template) of every operation the served /api/v1 spec declares."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{V1}/openapi.json", timeout=10) as response:
            spec = json.load(response)
    except (OSError, ValueError):
        return set()
    return {(method.upper(), path) for path, item in spec.get("paths", {}).items() for method in item}


def why_skipped(port: int, entry: V1Line, operations: set[tuple[str, str]]) -> str | None:
    """None when a first request answers 2xx; else why the line cannot be measured."""
    line = entry.line
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{line.path}",
        data=entry.probe_body if line.method in ("POST", "PUT", "PATCH") else None,
        method=line.method,
        headers={"Content-Type": "application/json", "Accept": "application/json", **dict(line.headers)},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return None
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode(errors="replace")
        status = exc.code
    except OSError as exc:
        return f"the server did not answer ({exc})"
    if status in (404, 405) and (line.method, entry.spec_path) not in operations:
        return f"{status}: openapi/v1.yaml has no {line.method} {entry.spec_path} yet"
    return f"{status} to a first request: {detail}"


# -- report ---------------------------------------------------------------------------------------


def _errors(result: dict) -> int:
    return sum(n for status, n in result["statuses"].items() if not status.startswith("2"))


def print_report(entries: list[V1Line], results: dict, phases: list[list[str]], skipped: dict, args, db_label: str):
    phase_of = {key: i for i, keys in enumerate(phases) for key in keys if key != "test"}
    measured = args.rounds * args.slice
    print()
    print(
        f"Slipstream /api/v1: {args.workers} uvicorn worker(s), {args.concurrency} concurrent keep-alive clients, "
        f"{db_label}. Each line: {measured:g} s measured in {args.rounds} slices of {args.slice:g} s, interleaved "
        "with GET /test (A) and the other lines of its phase."
    )
    print(
        f"Targets: {AIRFLOW_FACTOR:.0f}x real Airflow 2.10.5's figure for the same call ({AIRFLOW_LIST_RPS:.0f} "
        f"req/s for lists, {AIRFLOW_TRIGGERS_PER_S:.0f}/s for triggers) with p99 at most "
        f"{AIRFLOW_P99_MS / AIRFLOW_FACTOR:.0f} ms (a tenth of its {AIRFLOW_P99_MS:.0f} ms)."
    )
    header = (
        f"{'':3}{'endpoint':<44}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'vs A':>7}"
        f"  {'target':<30}{'non-2xx':>8}{'server':>7}{'us/req':>8}"
    )
    print(header)
    print("-" * len(header))
    for entry in entries:
        line = entry.line
        if line.key in skipped:
            print(f"{'':3}{line.label:<44}  skipped: {skipped[line.key]}")
            continue
        if line.key not in results:
            continue
        result = results[line.key][0]
        a = results["test"][phase_of.get(line.key, 0)]
        target = ""
        if entry.reference is not None:
            goal = entry.reference * AIRFLOW_FACTOR
            p99_goal = AIRFLOW_P99_MS / AIRFLOW_FACTOR
            holds = result["rps"] >= goal and result["p99_ms"] <= p99_goal and not _errors(result)
            target = f">={goal:,.0f}/s, p99<={p99_goal:.0f}ms: {'holds' if holds else 'NO'}"
        rps_a = result["rps"] / a["rps"] if a["rps"] else math.nan
        print(
            f"{'A' if line.key == 'test' else '':<3}{line.label:<44}{result['rps']:>9,.0f}{result['p50_ms']:>8.2f}"
            f"{result['p99_ms']:>8.2f}{rps_a:>7.2f}  {target:<30}{_errors(result):>8}{result['server_cpu']:>7.2f}"
            f"{result['server_cpu'] * 1e6 / result['rps'] if result['rps'] else math.nan:>8.0f}"
        )
        if _errors(result):
            print(f"{'':6}first non-2xx: {result['first_error']}")
    for i, run in enumerate(results["test"][1:], start=1):
        print(f"{'':3}(A while measuring {', '.join(k for k in phases[i] if k != 'test')}: {run['rps']:,.0f} req/s)")
    print(
        f"{'':3}vs A: req/s as a share of GET /test's in the same phase; server: cores used by the server; "
        "us/req: server CPU per request."
    )


# -- main -----------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    from slipstream.config import Settings

    home = Path(tempfile.mkdtemp(prefix="slipstream_bench_v1_"))
    try:
        with contextlib.ExitStack() as stack:
            if args.database_url and not args.database_url.startswith("sqlite"):
                database_url = stack.enter_context(scratch_postgres(args.database_url))
                db_label = f"PostgreSQL (scratch database {database_url.rsplit('/', 1)[-1]})"
            else:
                database_url = args.database_url or f"sqlite:///{home / 'slipstream.db'}"
                db_label = "SQLite (WAL)"
            settings = Settings(home=home, database_url=database_url, load_examples=True)
            print(
                f"Preparing {db_label}: {DAG_ROWS} DAG rows, {RUNS} runs of {DAG_ID}, "
                f"{TASK_INSTANCES:,} task instances ...",
                flush=True,
            )
            stored = seed(settings)
            print(f"Stored {stored['dags']} DAGs and {stored['task_instances']:,} task instances.", flush=True)

            env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPSTREAM_")}
            env.update(
                SLIPSTREAM_HOME=str(home),
                SLIPSTREAM_DATABASE_URL=database_url,
                SLIPSTREAM_HOST="127.0.0.1",
                SLIPSTREAM_LOAD_EXAMPLES="true",
                PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
            )
            app = stack.enter_context(running_server("slipstream", env, args.workers))
            runs_path = f"{V1}/dags/{DAG_ID}/dagRuns"
            run_tis = f"{runs_path}/{urllib.parse.quote(stored['run_id'], safe='')}/taskInstances"
            batch = f"{V1}/dags/~/dagRuns/~/taskInstances/list"
            entries = [
                V1Line(Line("test", "GET /api/experimental/test", f"{BASE}/test"), None, ""),
                V1Line(Line("version", "GET /api/v1/version", f"{V1}/version"), None, "/version"),
                V1Line(
                    Line("dags", f"GET /api/v1/dags ({stored['dags']} DAGs)", f"{V1}/dags"), AIRFLOW_LIST_RPS, "/dags"
                ),
                V1Line(
                    Line("runs", f"GET .../dagRuns ({RUNS} runs)", runs_path),
                    AIRFLOW_LIST_RPS,
                    "/dags/{dag_id}/dagRuns",
                ),
                V1Line(
                    Line("run_tis", "GET .../dagRuns/{id}/taskInstances", run_tis),
                    AIRFLOW_LIST_RPS,
                    "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances",
                ),
                V1Line(
                    Line(
                        "ti_batch",
                        f"POST .../taskInstances/list ({stored['task_instances']:,})",
                        batch,
                        "POST",
                        "bench.api_v1:empty_body",
                    ),
                    AIRFLOW_LIST_RPS,
                    "/dags/~/dagRuns/~/taskInstances/list",
                    b"{}",
                ),
                V1Line(
                    Line("trigger", "POST .../dagRuns (trigger)", runs_path, "POST", "bench.api_v1:trigger_body"),
                    AIRFLOW_TRIGGERS_PER_S,
                    "/dags/{dag_id}/dagRuns",
                    b'{"dag_run_id": "bench_v1_probe", "logical_date": "2022-12-31T00:00:00+00:00"}',
                ),
            ]
            operations = declared(app.port)
            skipped = {}
            for entry in entries:
                why = why_skipped(app.port, entry, operations)
                if why is not None:
                    skipped[entry.line.key] = why
            if "test" in skipped:
                raise RuntimeError(f"baseline A cannot be measured: {skipped['test']}")
            available = [e.line for e in entries if e.line.key not in skipped]
            # Triggers add runs to the listed DAG, so they come after the lists, in a phase of their own.
            phases = [[line.key for line in available if line.key != "trigger"]]
            if "trigger" not in skipped:
                phases.append(["test", "trigger"])
            servers = {line.key: app for line in available}
            for key, why in skipped.items():
                print(f"skipping {key}: {why}", flush=True)
            seconds = sum(len(keys) for keys in phases) * (args.warmup + args.rounds * (args.slice + args.slice_warmup))
            print(f"Measuring for about {seconds:.0f} s ...", flush=True)
            results = measure(available, servers, phases, args)
            print_report(entries, results, phases, skipped, args, db_label)
            return results
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = measurement_arguments(__doc__.split("\n\n")[0])
    run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

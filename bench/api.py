"""API throughput and latency (issue 2): one uvicorn worker serving the real app, under 16 clients.

    python -m bench.api                      # SQLite (WAL) in a temp SLIPSTREAM_HOME, 1 worker
    python -m bench.api --workers 2 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Measures GET /test on Slipstream (baseline A, the framework's floor), the same JSON from a bare
Starlette endpoint under the same uvicorn settings (baseline B, the Python ceiling), GET /pools
(open, and with basic_auth when the users service exists), the run list of a DAG with 100 stored
runs, and triggers (POST, each creating a run and its task instances). One load-generator process
(bench/_load.py) interleaves them in 1 s slices, so that other load on the machine hits them alike;
the triggers, which add runs to the listed DAG, get a second phase with A of their own. Prints
req/s, p50/p99 and server CPU per request, with ratios to A and B beside the issue's targets, and
the factors against the real Airflow 2.10.5 reference. It prints; it never asserts.

With a PostgreSQL --database-url, the database it names is only used to connect: the bench creates
a scratch database slipstream_bench_<pid> on that server and drops it at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import importlib.util
import inspect
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Connexion imports Starlette's test client, which warns about httpx (as in slipstream/api/app.py).
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
REPO_ROOT = Path(__file__).resolve().parent.parent
BASE = "/api/experimental"
DAG_ID = "example_bash_operator"
RUNS_PATH = f"{BASE}/dags/{DAG_ID}/dag_runs"
BENCH_USER = ("bench", "bench-password")

# Issue 2's targets, as shares of GET /test's req/s on the same server.
TARGETS = {"pools": 0.70, "run_list": 0.35, "trigger": 0.30}
# Real Airflow 2.10.5 on a machine like this one (issue 2), and the factor Slipstream should beat it by.
AIRFLOW_RUN_LIST_RPS = 110.0
AIRFLOW_TRIGGERS_PER_S = 57.0
AIRFLOW_P99_MS = 400.0
AIRFLOW_FACTOR = 10.0

# Seeded runs and triggered runs use disjoint run ids and execution dates (triggers need both unique).
SEED_DATE = dt.datetime(2021, 6, 1, tzinfo=dt.UTC)
TRIGGER_DATE = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)


def trigger_body(n: int) -> bytes:
    """The n-th trigger's body: its own run_id and execution date (one second apart)."""
    when = (TRIGGER_DATE + dt.timedelta(seconds=n)).isoformat()
    return b'{"run_id": "bench_%d", "execution_date": "%s"}' % (n, when.encode())


# -- the database ---------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_postgres(url: str) -> Iterator[str]:
    """A fresh database on the server `url` names; dropped (with its connections) at the end."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from slipstream.storage.db import normalize_url

    server = make_url(normalize_url(url))
    name = f"slipstream_bench_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        from slipstream.storage.db import dispose_all

        dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _process_all():
    """slipstream.dag_processing.process_all; another change brings it, so wait a while for it."""
    deadline = time.monotonic() + 300
    announced = False
    while True:
        try:
            return importlib.import_module("slipstream.dag_processing").process_all
        except (ImportError, AttributeError):
            if time.monotonic() > deadline:
                raise
            if not announced:
                print("waiting for slipstream.dag_processing.process_all to exist ...", flush=True)
                announced = True
            importlib.invalidate_caches()
            sys.modules.pop("slipstream.dag_processing", None)
            time.sleep(5)


def prepare_database(settings, runs: int) -> str | None:
    """Migrate, load the example DAGs, store `runs` runs; returns why basic_auth is skipped, or None."""
    from slipstream.services import dag_runs
    from slipstream.storage.db import session_scope
    from slipstream.storage.migrations.runner import upgrade

    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url, default_pool_slots=settings.default_pool_slots)
    report = _process_all()(settings)
    if DAG_ID not in report.dag_ids:
        raise RuntimeError(f"{DAG_ID} was not loaded: {report.summary()}")
    with session_scope(settings.database_url) as session:
        for i in range(runs):
            request = dag_runs.TriggerRequest(
                run_id=f"seed_{i}",
                conf={},
                execution_date=SEED_DATE + dt.timedelta(days=i),
                replace_microseconds=False,
            )
            dag_runs.trigger_dag_run(session, DAG_ID, request)
    return create_bench_user(settings)


def create_bench_user(settings) -> str | None:
    """Create the basic_auth user through slipstream.services.users, if that service exists yet."""
    if importlib.util.find_spec("slipstream.services.users") is None:
        return "slipstream.services.users does not exist yet"
    users = importlib.import_module("slipstream.services.users")
    create = next(
        (getattr(users, n) for n in ("create_user", "add_user", "create") if callable(getattr(users, n, None))),
        None,
    )
    if create is None:
        return "slipstream.services.users has no create_user function"
    from slipstream.storage.db import session_scope

    username, password = BENCH_USER
    params = inspect.signature(create).parameters
    kwargs = {"username": username, "password": password}
    if "actor" in params:  # audited changes name who made them: here, this bench from the command line
        audit = importlib.import_module("slipstream.services.audit")
        kwargs["actor"] = audit.cli_actor() if hasattr(audit, "cli_actor") else {"username": None, "remote_addr": None}
    try:
        with session_scope(settings.database_url) as session:
            if "session" in params:
                create(session=session, **kwargs)
            else:
                create(session, **kwargs)
    except Exception as exc:  # a signature this bench does not know: say so, measure the rest
        return f"could not create a user with {create.__module__}.{create.__name__}{inspect.signature(create)}: {exc}"
    return None


# -- servers --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen


@contextlib.contextmanager
def running_server(app: str, env: dict[str, str], workers: int, auth: str = "default") -> Iterator[Server]:
    port = free_port()
    env = dict(env, SLIPSTREAM_PORT=str(port), SLIPSTREAM_AUTH_BACKEND=auth, SLIPSTREAM_API_WORKERS=str(workers))
    process = subprocess.Popen(
        [sys.executable, "-m", "bench._servers", app, "--workers", str(workers)],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    try:
        _wait_until_up(process, port)
        yield Server(app, port, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(process: subprocess.Popen, port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}{BASE}/test"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status in (200, 401):
                    return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # basic_auth: up, and asking who we are
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not answer within {timeout:.0f} s")


# -- measuring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    key: str
    label: str
    path: str
    method: str = "GET"
    body_factory: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


def measure(lines: list[Line], servers: dict[str, Server], phases: list[list[str]], args) -> dict[str, list[dict]]:
    """Run the plan in one load-generator process; {key: [its result in each phase it is in]}."""
    plan = {
        "targets": [
            {
                "key": line.key,
                "port": servers[line.key].port,
                "path": line.path,
                "method": line.method,
                "headers": dict(line.headers),
                "body_factory": line.body_factory,
                "pids": [servers[line.key].process.pid],
            }
            for line in lines
        ],
        "phases": phases,
        "rounds": args.rounds,
        "slice": args.slice,
        "slice_warmup": args.slice_warmup,
        "warmup": args.warmup,
        "concurrency": args.concurrency,
    }
    generator = subprocess.run(
        [sys.executable, "-m", "bench._load", "--plan", "-"],
        cwd=REPO_ROOT,
        input=json.dumps(plan),
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if generator.returncode != 0:
        raise RuntimeError(f"the load generator failed (exit {generator.returncode})")
    return json.loads(generator.stdout)


# -- report ---------------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _errors(result: dict) -> int:
    return sum(n for status, n in result["statuses"].items() if not status.startswith("2"))


def print_report(
    lines: list[Line],
    results: dict[str, list[dict]],
    phases: list[list[str]],
    args,
    db_label: str,
    auth_note: str | None,
) -> None:
    # A is measured in every phase, each other line in one: it is compared with the A of its phase.
    phase_of = {key: i for i, keys in enumerate(phases) for key in keys if key != "test"}
    b = results["bare"][0]
    measured = args.rounds * args.slice
    print()
    print(
        f"Slipstream API: {args.workers} uvicorn worker(s), {args.concurrency} concurrent keep-alive clients, "
        f"{db_label}. Each line: {measured:g} s measured in {args.rounds} slices of {args.slice:g} s, "
        "interleaved with the lines it is compared with."
    )
    header = (
        f"{'':3}{'endpoint':<34}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'vs A':>7}{'vs B':>7}"
        f"  {'target':<18}{'non-2xx':>8}{'server':>7}{'gen':>6}{'other':>6}{'us/req':>8}"
    )
    print(header)
    print("-" * len(header))
    for line in lines:
        if line.key not in results:
            continue
        result, a = results[line.key][0], results["test"][phase_of.get(line.key, 0)]
        tag = {"bare": "B", "test": "A"}.get(line.key, "")
        target = ""
        if line.key in TARGETS:
            goal = TARGETS[line.key]
            target = f">={goal:.0%} of A: {'holds' if _ratio(result['rps'], a['rps']) >= goal else 'NO'}"
        print(
            f"{tag:<3}{line.label:<34}{result['rps']:>9,.0f}{result['p50_ms']:>8.2f}{result['p99_ms']:>8.2f}"
            f"{_ratio(result['rps'], a['rps']):>7.2f}{_ratio(result['rps'], b['rps']):>7.2f}  {target:<18}"
            f"{_errors(result):>8}{result['server_cpu']:>7.2f}{result['generator_cpu']:>6.2f}{result['other_cpu']:>6.2f}"
            f"{_ratio(result['server_cpu'] * 1e6, result['rps']):>8.0f}"
        )
        if _errors(result):
            print(f"{'':6}first non-2xx: {result['first_error']}")
    for i, run in enumerate(results["test"][1:], start=1):
        print(f"{'':3}(A while measuring {', '.join(k for k in phases[i] if k != 'test')}: {run['rps']:,.0f} req/s)")
    if "pools_basic" not in results:
        print(f"{'':3}GET /pools with basic_auth: not measured ({auth_note})")
    print(
        f"{'':3}vs A, vs B: req/s as a share of A's and B's. server / gen / other: cores used by the server's "
        "processes, by the load generator, by everything else on the machine;\n"
        f"{'':3}us/req: server CPU per request (steadier than req/s when other processes compete for the cores)."
        + (f"\n{'':3}(PostgreSQL's own processes count as 'other'.)" if "PostgreSQL" in db_label else "")
    )
    others = [run["other_cpu"] for runs in results.values() for run in runs]
    if others and sum(others) / len(others) > 0.25:
        print(
            f"{'':3}Note: other processes used {sum(others) / len(others):.2f} cores on average meanwhile; "
            "absolute figures are low by about that share, the ratios less so."
        )
    print()
    print(
        f"Against real Airflow 2.10.5 on a machine like this (issue 2: {AIRFLOW_RUN_LIST_RPS:.0f} req/s run list, "
        f"{AIRFLOW_TRIGGERS_PER_S:.0f} triggers/s, p99 near {AIRFLOW_P99_MS:.0f} ms; Slipstream should do "
        f"{AIRFLOW_FACTOR:.0f}x the throughput with 1/{AIRFLOW_FACTOR:.0f} of the p99):"
    )
    for key, reference in (("run_list", AIRFLOW_RUN_LIST_RPS), ("trigger", AIRFLOW_TRIGGERS_PER_S)):
        if key not in results:
            continue
        result = results[key][-1]
        label = next(line.label for line in lines if line.key == key)
        factor = result["rps"] / reference
        p99_share = result["p99_ms"] / AIRFLOW_P99_MS
        print(
            f"{'':3}{label:<34}{result['rps']:>9,.0f} /s = {factor:5.1f}x {reference:.0f}/s "
            f"({'holds' if factor >= AIRFLOW_FACTOR else 'NO'});  p99 {result['p99_ms']:6.1f} ms = "
            f"{p99_share:.3f} x {AIRFLOW_P99_MS:.0f} ms ({'holds' if p99_share <= 1 / AIRFLOW_FACTOR else 'NO'})"
        )


# -- main -----------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, list[dict]]:
    from slipstream.config import Settings

    home = Path(tempfile.mkdtemp(prefix="slipstream_bench_"))
    try:
        with contextlib.ExitStack() as stack:
            if args.database_url and not args.database_url.startswith("sqlite"):
                database_url = stack.enter_context(scratch_postgres(args.database_url))
                db_label = f"PostgreSQL (scratch database {database_url.rsplit('/', 1)[-1]})"
            else:
                database_url = args.database_url or f"sqlite:///{home / 'slipstream.db'}"
                db_label = "SQLite (WAL)"
            settings = Settings(home=home, database_url=database_url, load_examples=True)
            print(f"Preparing {db_label}: migrations, example DAGs, {args.runs} stored runs ...", flush=True)
            auth_note = prepare_database(settings, args.runs)

            env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPSTREAM_")}
            env.update(
                SLIPSTREAM_HOME=str(home),
                SLIPSTREAM_DATABASE_URL=database_url,
                SLIPSTREAM_HOST="127.0.0.1",
                SLIPSTREAM_LOAD_EXAMPLES="true",
                PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
            )
            app = stack.enter_context(running_server("slipstream", env, args.workers))
            servers = {
                "test": app,
                "bare": stack.enter_context(running_server("bare", env, args.workers)),
                "pools": app,
                "run_list": app,
                "trigger": app,
            }
            lines = [
                Line("bare", "bare Starlette, same JSON", f"{BASE}/test"),
                Line("test", "GET /test", f"{BASE}/test"),
                Line("pools", "GET /pools", f"{BASE}/pools"),
                Line("pools_basic", "GET /pools, basic_auth", f"{BASE}/pools"),
                Line("run_list", f"GET .../dag_runs ({args.runs} runs)", RUNS_PATH),
                Line("trigger", "POST .../dag_runs (trigger)", RUNS_PATH, "POST", "bench.api:trigger_body"),
            ]
            # Triggers add runs to the listed DAG, so they come after the run list, in a phase of their own.
            phases = [["test", "bare", "pools", "run_list"], ["test", "trigger"]]
            if auth_note is None:
                from bench._load import basic_auth_header

                servers["pools_basic"] = stack.enter_context(
                    running_server("slipstream", env, args.workers, auth="basic_auth")
                )
                lines[3] = Line(
                    "pools_basic", "GET /pools, basic_auth", f"{BASE}/pools",
                    headers=(("Authorization", basic_auth_header(*BENCH_USER)),),
                )  # fmt: skip
                phases[0].insert(3, "pools_basic")
            else:
                lines.pop(3)
            seconds = sum(len(keys) for keys in phases) * (args.warmup + args.rounds * (args.slice + args.slice_warmup))
            print(f"Measuring for about {seconds:.0f} s ...", flush=True)
            results = measure(lines, servers, phases, args)
            print_report(lines, results, phases, args, db_label, auth_note)
            return results
    finally:
        shutil.rmtree(home, ignore_errors=True)


def measurement_arguments(description: str) -> argparse.ArgumentParser:
    """The options every API bench takes: server, database, load and slicing."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    parser.add_argument(
        "--database-url",
        help="default: SQLite in a temp home; a PostgreSQL URL names the server to make a scratch database on",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent keep-alive clients (default 16)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per line and phase (default 2)")
    parser.add_argument("--rounds", type=int, default=5, help="measured slices per line (default 5)")
    parser.add_argument("--slice", type=float, default=1.0, help="seconds per measured slice (default 1)")
    parser.add_argument("--slice-warmup", type=float, default=0.25, help="unmeasured seconds before each slice")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = measurement_arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="runs stored before the run-list line (default 100)")
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()

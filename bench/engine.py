"""Engine latency and throughput (issues 3 and 4): the scheduler and its executors, for real.

    python -m bench.engine                       # temp SLIPSTREAM_HOME, SQLite, LocalExecutor, parallelism 32
    python -m bench.engine --fanout 200          # a smaller fan-out
    python -m bench.engine --schedulers 2        # the fan-out on PostgreSQL, LocalExecutor, 1 vs 2 schedulers
    python -m bench.engine --executor celery     # the fan-out on PostgreSQL, CeleryExecutor, 1 vs 2 schedulers
    python -m bench.engine --executor both       # both of the above, in one run

The PostgreSQL modes use a scratch database (created and dropped; SLIPSTREAM_TEST_POSTGRES_URL names
the server) and real `slipstream scheduler` processes; the Celery mode adds --celery-workers real
`slipstream worker` processes (--worker-concurrency each, default: the CPU count) on --broker-url
(default redis://127.0.0.1:6379/15: the Celery tests' lock key claims that Redis database while the
benchmark runs and it is emptied at start and end). A server that does not answer: a line says the
mode is skipped, nothing fails.

Measures, each run triggered through the trigger service and timed from the run's queued_at:
  1. example_bash_operator, trigger -> run success (floor 1 s: the runme_* tasks sleep 1 s);
  2. trigger -> first task start_date, p50/p99 over --triggers runs of a one-task DAG;
  3. a chain of 10 no-op bash tasks, trigger -> run success; a TaskFlow chain of 100 tasks passing an XCom;
  4. --fanout no-op bash tasks in one DAG, trigger -> run success, with the scheduler loop's own
     time reported apart from the time spent in task processes;
  5. a @task mapped --mapped ways over an upstream XCom, trigger -> run success (issue 13).
Baselines measured in the same run: a cold `python -c pass` and `bash -c true`, what a task costs
when every try starts a new interpreter (and, in the PostgreSQL modes, a cold fork server start: what
each Celery try cost before workers kept a warm one). It prints; it never asserts.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, update

from slipstream.config import Settings
from slipstream.dag_processing import process_all
from slipstream.scheduler.loop import SchedulerThread
from slipstream.services.dag_runs import TriggerRequest, trigger_dag_run
from slipstream.storage.db import dispose_all, session_scope
from slipstream.storage.migrations.runner import upgrade
from slipstream.storage.models import DagModel, DagRun, TaskInstance, XCom

DAGS = {
    "bench_latency": """
        from datetime import UTC, datetime
        from slipstream.sdk import DAG, BashOperator

        with DAG("bench_latency", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
            BashOperator(task_id="noop", bash_command="true")
    """,
    "bench_chain": """
        from datetime import UTC, datetime
        from slipstream.sdk import DAG, BashOperator, chain

        with DAG("bench_chain", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
            chain(*[BashOperator(task_id=f"step_{i}", bash_command="true") for i in range(10)])
    """,
    "bench_fanout": """
        from datetime import UTC, datetime
        from slipstream.sdk import DAG, BashOperator

        with DAG(
            "bench_fanout", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC), max_active_tasks={fanout}
        ) as dag:
            for i in range({fanout}):
                BashOperator(task_id=f"t_{i}", bash_command="true"{queue})
    """,
    # Issue 13: one mapped task expanded over an upstream XCom of {mapped} items.
    "bench_mapped": """
        from datetime import UTC, datetime
        from airflow.decorators import task
        from airflow.models.dag import DAG

        with DAG(
            "bench_mapped", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC), max_active_tasks={mapped}
        ) as dag:
            @task
            def items():
                return list(range({mapped}))

            @task
            def noop(item):
                return None

            noop.expand(item=items())
    """,
}
USED = {
    "example_bash_operator",
    "bench_latency",
    "bench_chain",
    "bench_fanout",
    "taskflow_xcom_chain_100",
    "bench_mapped",
}
# The same file was run on Apache Airflow 2.10.5 on this machine (tests/conformance/README.md).
TASKFLOW_CHAIN = Path(__file__).with_name("dags") / "taskflow_xcom_chain_100.py"
AIRFLOW_TASKFLOW_CHAIN = "Airflow 2.10.5: 180.9 s (PostgreSQL, LocalExecutor), 303.7 s (SQLite, Sequential)"
# The Celery queue of the fan-out's tasks in the Celery mode: only the benchmark's workers consume it.
BENCH_QUEUE = "slipstream_bench"
DEFAULT_BROKER = "redis://127.0.0.1:6379/15"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SLIPSTREAM = [sys.executable, "-m", "slipstream.cli"]
# The key the Celery tests (tests/celery/conftest.py) set to claim a Redis database.
REDIS_LOCK_KEY = "slipstream-celery-test-lock"


def fanout_source(fanout: int, queue: str | None = None) -> str:
    source = DAGS["bench_fanout"].replace("{fanout}", str(fanout))
    return textwrap.dedent(source.replace("{queue}", f", queue={queue!r}" if queue else ""))


@dataclass
class RunTiming:
    run_id: str
    total: float  # queued_at -> end_date
    first_start: float  # queued_at -> earliest task start_date
    state: str


def xcom_value(settings: Settings, dag_id: str, run_id: str, task_id: str) -> object:
    with session_scope(settings.database_url, write=False) as db:
        text = db.scalar(
            select(XCom.value).where(
                XCom.dag_id == dag_id, XCom.run_id == run_id, XCom.task_id == task_id, XCom.key == "return_value"
            )
        )
    return json.loads(text) if text is not None else None


def cold_start(command: list[str], repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def trigger(settings: Settings, dag_id: str) -> str:
    with session_scope(settings.database_url) as db:
        run, _ = trigger_dag_run(db, dag_id, TriggerRequest(None, {}, None, replace_microseconds=False))
        return run.run_id


def wait_for_end(settings: Settings, dag_id: str, run_id: str, timeout: float, poll: float = 0.02) -> RunTiming:
    """Timings come from the run's own timestamps, so polling slowly costs no accuracy, only CPU."""
    deadline = time.monotonic() + timeout
    while True:
        with session_scope(settings.database_url, write=False) as db:
            run = db.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
            if run.state in ("success", "failed"):
                first = db.scalar(
                    select(func.min(TaskInstance.start_date)).where(
                        TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
                    )
                )
                return RunTiming(
                    run_id,
                    (run.end_date - run.queued_at).total_seconds(),
                    (first - run.queued_at).total_seconds() if first else float("nan"),
                    run.state,
                )
        if time.monotonic() > deadline:
            raise TimeoutError(f"{dag_id}/{run_id} did not finish in {timeout} s")
        time.sleep(poll)


def wait_idle(settings: Settings, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(settings.database_url, write=False) as db:
            busy = db.scalar(select(func.count()).where(DagRun.state.in_(["queued", "running"])))
        if not busy:
            return
        time.sleep(0.05)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def task_seconds(settings: Settings, dag_id: str, run_id: str) -> tuple[int, float]:
    with session_scope(settings.database_url, write=False) as db:
        count, total = db.execute(
            select(func.count(), func.sum(TaskInstance.duration)).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
            )
        ).one()
    return count, total or 0.0


def line(label: str, value: str, target: str) -> None:
    print(f"  {label:<52} {value:>16}   target {target}")


def run(args: argparse.Namespace) -> None:
    home = Path(tempfile.mkdtemp(prefix="slipstream-bench-engine-"))
    settings = Settings(home=home, load_examples=True, dags_folder=home / "dags", parallelism=args.parallelism)
    settings.dags_folder.mkdir(parents=True)
    shutil.copy(TASKFLOW_CHAIN, settings.dags_folder / TASKFLOW_CHAIN.name)
    for name, source in DAGS.items():
        text = fanout_source(args.fanout) if name == "bench_fanout" else textwrap.dedent(source)
        text = text.replace("{mapped}", str(args.mapped))
        (settings.dags_folder / f"{name}.py").write_text(text)
    upgrade(settings.database_url, default_pool_slots=settings.default_pool_slots)
    report = process_all(settings)
    if report.import_errors:
        raise SystemExit(f"import errors: {report.import_errors}")
    with session_scope(settings.database_url) as db:
        db.execute(update(DagModel).values(is_paused=DagModel.dag_id.not_in(USED)))

    python_cold = cold_start([sys.executable, "-c", "pass"])
    slipstream_cold = cold_start([sys.executable, "-c", "import slipstream.scheduler.task_runner"], repeat=3)
    bash_cold = cold_start(["bash", "-c", "true"])

    scheduler = SchedulerThread(settings)
    scheduler.start()
    try:
        wait_idle(settings)  # example_bash_operator's own scheduled run, created on start
        # Warm-up: the fork server has imported each DAG file once.
        for dag_id in ("bench_latency", "bench_chain", "example_bash_operator"):
            wait_for_end(settings, dag_id, trigger(settings, dag_id), 60)

        bash_runs = [wait_for_end(settings, "example_bash_operator", trigger(settings, "example_bash_operator"), 60)]
        bash_runs += [wait_for_end(settings, "example_bash_operator", trigger(settings, "example_bash_operator"), 60)]
        bash_runs += [wait_for_end(settings, "example_bash_operator", trigger(settings, "example_bash_operator"), 60)]

        latencies = []
        for _ in range(args.triggers):
            timing = wait_for_end(settings, "bench_latency", trigger(settings, "bench_latency"), 60)
            latencies.append(timing.first_start)

        chains = [wait_for_end(settings, "bench_chain", trigger(settings, "bench_chain"), 60) for _ in range(3)]
        chain_id = "taskflow_xcom_chain_100"
        wait_for_end(settings, chain_id, trigger(settings, chain_id), 120)  # warm-up
        taskflow = [wait_for_end(settings, chain_id, trigger(settings, chain_id), 120) for _ in range(3)]
        taskflow_final = xcom_value(settings, chain_id, taskflow[-1].run_id, "step_099")

        loop_before = scheduler.job.stats.busy_seconds
        loop_cpu_before = scheduler.job.stats.cpu_seconds
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        iterations_before = scheduler.job.stats.iterations
        fanout_started = time.perf_counter()
        fanout_run = trigger(settings, "bench_fanout")
        fanout = wait_for_end(settings, "bench_fanout", fanout_run, 600, poll=0.2)
        fanout_wall = time.perf_counter() - fanout_started
        loop_busy = scheduler.job.stats.busy_seconds - loop_before
        loop_cpu = scheduler.job.stats.cpu_seconds - loop_cpu_before
        loop_iterations = scheduler.job.stats.iterations - iterations_before
        fanout_tasks, fanout_task_seconds = task_seconds(settings, "bench_fanout", fanout_run)
    finally:
        scheduler.stop(timeout=60)
        dispose_all()
    # The fork server and its children are waited for when the scheduler stops: their CPU is in here.
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    task_cpu = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    # The mapped task on a scheduler of its own: the fan-out's task CPU figure above counts every
    # child of the first one's fork server, so nothing else may run there.
    scheduler = SchedulerThread(settings)
    scheduler.start()
    try:
        wait_for_end(settings, "bench_latency", trigger(settings, "bench_latency"), 60)  # a warm fork server
        mapped_run = trigger(settings, "bench_mapped")
        mapped = wait_for_end(settings, "bench_mapped", mapped_run, 600, poll=0.2)
        mapped_tasks, _ = task_seconds(settings, "bench_mapped", mapped_run)
    finally:
        scheduler.stop(timeout=60)
        dispose_all()

    print(f"Slipstream engine benchmark: SQLite (WAL), LocalExecutor, parallelism {settings.parallelism}, home {home}")
    print(f"machine: {os.cpu_count()} CPUs, load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("baselines (same machine, same run):")
    line("cold `python -c pass`", f"{python_cold * 1000:.0f} ms", "-")
    line("cold python importing the task runner", f"{slipstream_cold * 1000:.0f} ms", "-")
    line("cold `bash -c true`", f"{bash_cold * 1000:.1f} ms", "-")
    print("results:")
    states = {t.state for t in bash_runs}
    line(
        f"example_bash_operator trigger -> success ({len(bash_runs)} runs, median)",
        f"{statistics.median(t.total for t in bash_runs):.2f} s",
        "< 1.5 s (floor 1.0 s)",
    )
    line("  each run", " / ".join(f"{t.total:.2f}" for t in bash_runs) + f" {states}", "")
    line(
        f"trigger -> first task start, p50 over {len(latencies)} triggers",
        f"{percentile(latencies, 0.5) * 1000:.0f} ms",
        "150 ms",
    )
    line(
        f"trigger -> first task start, p99 over {len(latencies)} triggers", f"{max(latencies) * 1000:.0f} ms", "500 ms"
    )
    line(
        "chain of 10 no-op bash tasks, trigger -> success (median of 3)",
        f"{statistics.median(t.total for t in chains):.2f} s",
        "< 1.5 s",
    )
    line(
        "TaskFlow chain of 100 tasks passing an XCom, trigger -> success (median of 3)",
        f"{statistics.median(t.total for t in taskflow):.2f} s",
        "< 3 s",
    )
    line("  states / last value", f"{ {t.state for t in taskflow} } / {taskflow_final}", "100")
    line("  the same DAG file on Airflow, this machine", AIRFLOW_TASKFLOW_CHAIN, "")
    line(f"{args.fanout} no-op bash tasks fan-out, trigger -> success", f"{fanout.total:.1f} s", "< 20 s")
    line("  state / tasks", f"{fanout.state} / {fanout_tasks}", "")
    line("  scheduler loop, wall time in its passes", f"{loop_busy:.1f} s in {loop_iterations} loops", "")
    line("  scheduler loop, CPU time of its thread", f"{loop_cpu:.1f} s", "")
    line(
        "  task processes + fork server, CPU time",
        f"{task_cpu:.1f} s ({task_cpu / fanout_tasks * 1000:.0f} ms a task)",
        "",
    )
    line("  task tries, sum of their durations (wall)", f"{fanout_task_seconds:.1f} s", "")
    line("  wall time seen by the client", f"{fanout_wall:.1f} s", "")
    line(f"{args.mapped}-way mapped task over an XCom, trigger -> success", f"{mapped.total:.1f} s", "< 20 s")
    line("  state / task instances", f"{mapped.state} / {mapped_tasks}", "")


@dataclass
class Setup:
    """One PostgreSQL fan-out: the executor, how many schedulers, and (Celery) its broker and workers."""

    executor: str  # "local" or "celery"
    schedulers: int
    broker: str | None = None
    workers: int = 0
    concurrency: int = 0

    @property
    def label(self) -> str:
        if self.executor == "local":
            return f"LocalExecutor, {self.schedulers} scheduler{'s' if self.schedulers > 1 else ''}"
        return (
            f"CeleryExecutor, {self.schedulers} scheduler{'s' if self.schedulers > 1 else ''}, "
            f"{self.workers} worker{'s' if self.workers > 1 else ''} x {self.concurrency}"
        )


@dataclass
class FanoutResult:
    setup: Setup
    timing: RunTiming
    tasks: int
    fork_servers: int | None = None  # fork servers the Celery workers started (a warm one is reused)


def _wait_for_log(path: Path, needle: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise RuntimeError(f"{path.name} exited early:\n{path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    raise TimeoutError(f"{needle!r} not in {path} after {timeout} s")


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, 9)  # its own group: the worker's children and fork servers too
            except ProcessLookupError:
                pass
            process.wait()


def _fanout_on_postgres(admin_url: str, name: str, setup: Setup, args: argparse.Namespace) -> FanoutResult:
    """--fanout no-op tasks on a scratch PostgreSQL database `name`, run by `setup.schedulers` `slipstream
    scheduler` processes (and, Celery, `setup.workers` `slipstream worker` processes); the database is
    dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from slipstream.storage.models import Job

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    home = Path(tempfile.mkdtemp(prefix=f"slipstream-bench-{setup.executor}-"))
    settings = Settings(home=home, database_url=url, load_examples=False, dags_folder=home / "dags")
    settings.dags_folder.mkdir(parents=True)
    queue = BENCH_QUEUE if setup.executor == "celery" else None
    (settings.dags_folder / "bench_fanout.py").write_text(fanout_source(args.fanout, queue))
    processes: list[subprocess.Popen] = []
    worker_logs: list[Path] = []
    try:
        upgrade(url, default_pool_slots=settings.default_pool_slots)
        process_all(settings)
        env = {
            **os.environ,
            "SLIPSTREAM_HOME": str(home),
            "SLIPSTREAM_DATABASE_URL": url,
            "SLIPSTREAM_DAGS_FOLDER": str(settings.dags_folder),
            "SLIPSTREAM_LOAD_EXAMPLES": "false",
            "SLIPSTREAM_PARALLELISM": str(args.parallelism),
            "SLIPSTREAM_EXECUTOR": setup.executor,
        }
        if setup.broker:
            env["SLIPSTREAM_CELERY_BROKER_URL"] = setup.broker
        for i in range(setup.workers):
            path = home / f"worker-{i}.log"
            log = open(path, "wb")  # noqa: SIM115 - the child holds it
            worker = subprocess.Popen(
                [*SLIPSTREAM, "worker", "--queues", BENCH_QUEUE, "--concurrency", str(setup.concurrency)]
                + ["--hostname", f"bench-{i}-{os.getpid()}@%h"],
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
            processes.append(worker)
            worker_logs.append(path)
            _wait_for_log(path, " ready.", worker, 60)
        for i in range(setup.schedulers):
            log = open(home / f"scheduler-{i}.log", "wb")  # noqa: SIM115 - the child holds it
            processes.append(subprocess.Popen([*SLIPSTREAM, "scheduler"], env=env, stdout=log, stderr=log))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with session_scope(url, write=False) as db:
                if db.scalar(select(func.count()).where(Job.state == "running")) >= setup.schedulers:
                    break
            time.sleep(0.1)
        # Warm-up: each scheduler's (and each worker process's) fork server imports the DAG file once.
        wait_for_end(settings, "bench_fanout", trigger(settings, "bench_fanout"), 900, poll=0.2)
        run_id = trigger(settings, "bench_fanout")
        timing = wait_for_end(settings, "bench_fanout", run_id, 900, poll=0.2)
        tasks, _ = task_seconds(settings, "bench_fanout", run_id)
        fork_servers = None
        if worker_logs:
            fork_servers = sum(p.read_text(errors="replace").count("Started a fork server") for p in worker_logs)
        return FanoutResult(setup, timing, tasks, fork_servers)
    finally:
        _stop(processes)
        dispose_all()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def cold_fork_server() -> float:
    """Start -> "ready" of a new fork server: what every Celery try cost when workers started one per try."""
    import orjson

    from slipstream.scheduler.executors.zygote import settings_to_dict

    home = Path(tempfile.mkdtemp(prefix="slipstream-bench-zygote-"))
    payload = orjson.dumps({"settings": settings_to_dict(Settings(home=home, load_examples=False))}) + b"\n"
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "slipstream.scheduler.executors.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        process.stdin.write(payload)
        process.stdin.flush()
        process.stdout.readline()
        samples.append(time.perf_counter() - started)
        process.stdin.close()
        process.wait(10)
        process.stdout.close()
    return statistics.median(samples)


def reachable(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at host:port (within a second)."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def postgres_answers(admin_url: str) -> str | None:
    """None when PostgreSQL answers, else why not."""
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return None
    except Exception as exc:
        return str(exc).splitlines()[0]
    finally:
        engine.dispose()


class BenchBroker:
    """The benchmark's broker, empty at start and end. On Redis the database is claimed with the Celery
    tests' lock key (so a test run picks another one) and all its other keys are deleted; on another
    broker the benchmark's queue is purged and deleted."""

    def __init__(self, url: str):
        self.url = url
        self.token = f"bench-{os.getpid()}-{os.urandom(4).hex()}"
        self.client = None

    def unavailable(self) -> str | None:
        from kombu.utils.url import url_to_parts

        parts = url_to_parts(self.url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (6379 if parts.scheme.startswith("redis") else 5672)
        if not reachable(host, port):
            return f"the broker {host}:{port} does not answer"
        return None

    def __enter__(self) -> BenchBroker:
        if self.url.startswith("redis"):
            import redis

            self.client = redis.Redis.from_url(self.url)
            try:
                claimed = self.client.set(REDIS_LOCK_KEY, self.token, nx=True, ex=3600)
                holder = None if claimed else self.client.get(REDIS_LOCK_KEY)
            except redis.RedisError as exc:  # no such database, a password needed, ...
                self.client.close()
                raise RuntimeError(f"{self.url} is not usable: {exc}") from exc
            if not claimed:
                self.client.close()
                raise RuntimeError(f"{self.url} is held by another run ({holder!r}); pass another --broker-url")
        self.purge()
        return self

    def purge(self) -> None:
        if self.client is not None:
            for key in self.client.scan_iter():
                if key != REDIS_LOCK_KEY.encode():
                    self.client.delete(key)
            return
        from kombu import Connection

        with Connection(self.url, connect_timeout=3) as connection:
            try:
                connection.default_channel.queue_purge(BENCH_QUEUE)
            except Exception:  # no such queue yet
                pass

    def __exit__(self, *exc: object) -> None:
        self.purge()
        if self.client is not None:
            if self.client.get(REDIS_LOCK_KEY) == self.token.encode():
                self.client.delete(REDIS_LOCK_KEY)
            self.client.close()
        else:
            from kombu import Connection

            with Connection(self.url, connect_timeout=3) as connection:
                try:
                    connection.default_channel.queue_delete(BENCH_QUEUE)
                except Exception:
                    pass


def run_postgres(args: argparse.Namespace) -> None:
    """The fan-out on PostgreSQL with 1 and with --schedulers schedulers, per executor, side by side."""
    admin_url = os.environ.get("SLIPSTREAM_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    executors = ["local", "celery"] if args.executor == "both" else [args.executor]
    schedulers = max(args.schedulers, 2) if args.schedulers != 1 else 1
    counts = [1] if schedulers == 1 else [1, schedulers]
    why = postgres_answers(admin_url)
    if why is not None:
        print(f"Slipstream fan-out on PostgreSQL: skipped, PostgreSQL does not answer ({why})")
        return
    broker = None
    if "celery" in executors:
        broker = BenchBroker(args.broker_url)
        why = broker.unavailable()
        if why is not None:
            print(
                f"Slipstream fan-out on the CeleryExecutor: skipped, {why} "
                f"(start Redis, or pass --broker-url; then: python -m bench.engine --executor celery)"
            )
            executors.remove("celery")
            broker = None
            if not executors:
                return
    setups = [Setup("local", n) for n in counts if "local" in executors]
    concurrency = args.worker_concurrency or os.cpu_count() or 2
    setups += [
        Setup("celery", n, args.broker_url, args.celery_workers, concurrency) for n in counts if "celery" in executors
    ]

    python_cold = cold_start([sys.executable, "-c", "pass"])
    bash_cold = cold_start(["bash", "-c", "true"])
    zygote_cold = cold_fork_server()
    name = f"slipstream_bench_{os.getpid()}"
    results: list[FanoutResult] = []
    skipped: list[str] = []
    load_before = os.getloadavg()
    for setup in setups:
        if setup.executor == "celery":
            try:
                with broker:
                    results.append(_fanout_on_postgres(admin_url, name, setup, args))
            except RuntimeError as exc:
                skipped.append(f"{setup.label}: skipped, {exc}")
        else:
            results.append(_fanout_on_postgres(admin_url, name, setup, args))
    load_after = os.getloadavg()

    print(
        f"Slipstream fan-out on PostgreSQL: {args.fanout} no-op bash tasks, parallelism {args.parallelism} "
        f"per scheduler" + (f", Celery broker {args.broker_url}, queue {BENCH_QUEUE}" if broker else "")
    )
    print(
        f"machine: {os.cpu_count()} CPUs, load average before {' / '.join(f'{x:.1f}' for x in load_before)}, "
        f"after {' / '.join(f'{x:.1f}' for x in load_after)}"
    )
    print("baselines (same machine, same run):")
    line("cold `python -c pass`", f"{python_cold * 1000:.0f} ms", "-")
    line("cold `bash -c true`", f"{bash_cold * 1000:.1f} ms", "-")
    line("cold fork server start (was: every Celery try)", f"{zygote_cold * 1000:.0f} ms", "-")
    if any(s.executor == "celery" for s in setups):
        per_try = zygote_cold * args.fanout / (args.celery_workers * concurrency)
        line(
            f"  x {args.fanout} tries / {args.celery_workers * concurrency} worker processes",
            f"{per_try:.1f} s",
            "-",
        )
    print("results (trigger -> run success, the second of two runs; the first warms up):")
    for result in results:
        line(
            f"{result.setup.label}",
            f"{result.timing.total:.1f} s",
            "-",
        )
        detail = f"{result.timing.state} / {result.tasks}"
        if result.fork_servers is not None:
            detail += f" / {result.fork_servers}"
        line("  state / tasks" + (" / fork servers started" if result.fork_servers is not None else ""), detail, "")
        line("  trigger -> first task start", f"{result.timing.first_start * 1000:.0f} ms", "")
    for note in skipped:
        print(f"  {note}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fanout", type=int, default=1000, help="tasks in the fan-out DAG (default 1000)")
    parser.add_argument("--mapped", type=int, default=1000, help="instances of the mapped task (default 1000)")
    parser.add_argument("--triggers", type=int, default=30, help="triggers for the latency figure (default 30)")
    parser.add_argument("--parallelism", type=int, default=32, help="SLIPSTREAM_PARALLELISM (default 32)")
    parser.add_argument(
        "--schedulers",
        type=int,
        default=0,
        help="the fan-out on PostgreSQL (SLIPSTREAM_TEST_POSTGRES_URL) with 1 and with this many "
        "scheduler processes, side by side (default with --executor celery/both: 2)",
    )
    parser.add_argument(
        "--executor",
        choices=("local", "celery", "both"),
        default="local",
        help="local (default), celery or both: celery and both run the PostgreSQL fan-out",
    )
    parser.add_argument("--broker-url", default=DEFAULT_BROKER, help=f"Celery broker (default {DEFAULT_BROKER})")
    parser.add_argument("--celery-workers", type=int, default=1, help="`slipstream worker` processes (default 1)")
    parser.add_argument(
        "--worker-concurrency", type=int, default=0, help="prefork processes per worker (default: the CPU count)"
    )
    logging.basicConfig(level=logging.WARNING)
    args = parser.parse_args(argv)
    if args.schedulers or args.executor != "local":
        run_postgres(args)
    else:
        run(args)


if __name__ == "__main__":
    main()

"""Engine latency and throughput (issue 3): the scheduler and the LocalExecutor on SQLite, for real.

    python -m bench.engine                 # temp SLIPSTREAM_HOME, SQLite, parallelism 32
    python -m bench.engine --fanout 200    # a smaller fan-out
    python -m bench.engine --schedulers 2  # the fan-out on PostgreSQL, 1 vs 2 scheduler processes

Measures, each run triggered through the trigger service and timed from the run's queued_at:
  1. example_bash_operator, trigger -> run success (floor 1 s: the runme_* tasks sleep 1 s);
  2. trigger -> first task start_date, p50/p99 over --triggers runs of a one-task DAG;
  3. a chain of 10 no-op bash tasks, trigger -> run success;
  4. --fanout no-op bash tasks in one DAG, trigger -> run success, with the scheduler loop's own
     time reported apart from the time spent in task processes.
Baselines measured in the same run: a cold `python -c pass` and `bash -c true`, what a task costs
when every try starts a new interpreter. It prints; it never asserts.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
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
from slipstream.db import dispose_all, session_scope
from slipstream.migrations.runner import upgrade
from slipstream.models import DagModel, DagRun, TaskInstance
from slipstream.scheduler.loop import SchedulerThread
from slipstream.services.dag_runs import TriggerRequest, trigger_dag_run

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
                BashOperator(task_id=f"t_{i}", bash_command="true")
    """,
}
USED = {"example_bash_operator", "bench_latency", "bench_chain", "bench_fanout"}


@dataclass
class RunTiming:
    run_id: str
    total: float  # queued_at -> end_date
    first_start: float  # queued_at -> earliest task start_date
    state: str


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
    for name, source in DAGS.items():
        (settings.dags_folder / f"{name}.py").write_text(textwrap.dedent(source.replace("{fanout}", str(args.fanout))))
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


def _fanout_with_schedulers(admin_url: str, name: str, count: int, args: argparse.Namespace) -> RunTiming:
    """--fanout no-op tasks on a scratch PostgreSQL database `name`, run by `count` `slipstream scheduler`
    processes; the database is dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from slipstream.models import Job

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    home = Path(tempfile.mkdtemp(prefix="slipstream-bench-schedulers-"))
    settings = Settings(home=home, database_url=url, load_examples=False, dags_folder=home / "dags")
    settings.dags_folder.mkdir(parents=True)
    source = DAGS["bench_fanout"].replace("{fanout}", str(args.fanout))
    (settings.dags_folder / "bench_fanout.py").write_text(textwrap.dedent(source))
    processes: list[subprocess.Popen] = []
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
        }
        for i in range(count):
            log = open(home / f"scheduler-{i}.log", "wb")  # noqa: SIM115 - the child holds it
            processes.append(
                subprocess.Popen([sys.executable, "-m", "slipstream.cli", "scheduler"], env=env, stdout=log, stderr=log)
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with session_scope(url, write=False) as db:
                if db.scalar(select(func.count()).where(Job.state == "running")) >= count:
                    break
            time.sleep(0.1)
        # Warm-up: each scheduler's fork server imports the DAG file once.
        wait_for_end(settings, "bench_fanout", trigger(settings, "bench_fanout"), 600, poll=0.2)
        return wait_for_end(settings, "bench_fanout", trigger(settings, "bench_fanout"), 600, poll=0.2)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        dispose_all()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_schedulers(args: argparse.Namespace) -> None:
    """The fan-out with 1 and with --schedulers schedulers on PostgreSQL, side by side."""
    admin_url = os.environ.get("SLIPSTREAM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    name = f"slipstream_bench_{os.getpid()}"
    one = _fanout_with_schedulers(admin_url, name, 1, args)
    several = _fanout_with_schedulers(admin_url, name, args.schedulers, args)
    print(
        f"Slipstream several schedulers: PostgreSQL, LocalExecutor, parallelism {args.parallelism} per scheduler, "
        f"{os.cpu_count()} CPUs"
    )
    line(f"{args.fanout} no-op bash tasks, 1 scheduler, trigger -> success", f"{one.total:.1f} s ({one.state})", "-")
    line(
        f"{args.fanout} no-op bash tasks, {args.schedulers} schedulers, trigger -> success",
        f"{several.total:.1f} s ({several.state})",
        "-",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fanout", type=int, default=1000, help="tasks in the fan-out DAG (default 1000)")
    parser.add_argument("--triggers", type=int, default=30, help="triggers for the latency figure (default 30)")
    parser.add_argument("--parallelism", type=int, default=32, help="SLIPSTREAM_PARALLELISM (default 32)")
    parser.add_argument(
        "--schedulers",
        type=int,
        default=0,
        help="instead: the fan-out on PostgreSQL (SLIPSTREAM_TEST_POSTGRES_URL) with 1 and with this many "
        "scheduler processes, side by side",
    )
    logging.basicConfig(level=logging.WARNING)
    args = parser.parse_args(argv)
    if args.schedulers:
        run_schedulers(args)
    else:
        run(args)


if __name__ == "__main__":
    main()

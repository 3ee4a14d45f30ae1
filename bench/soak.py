"""A long soak (issue 15), not part of `make test` or `make bench`:

    python -m bench.soak                     # one hour
    python -m bench.soak --minutes 15        # shorter
    python -m bench.soak --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test   # on PostgreSQL

A real `slipstream api` and `slipstream scheduler` on SQLite (WAL), a DAG scheduled every minute and a
mixed API load (reads of pools, run lists, latest runs, task states; a trigger now and then). Every
minute it prints the API server's and the scheduler's RSS and open file descriptors and the error
answers so far. At the end: RSS growth after the first ten minutes (target under 10%), descriptor
growth (target none) and error answers (target none). It prints; it never asserts.

The run list the load reads returns every run of the DAG (the experimental API has no paging), so a
database left to grow makes each answer bigger, and the API's memory with it, whatever the code does.
As a deployment would, the soak therefore removes runs older than --keep-minutes (default 10) once a
minute with the `slipstream db clean` service (--keep-minutes 0: never), and prints how many runs are
stored. The scheduler's figures are its own process ("sched MB") and its whole tree with the fork
server and whatever tasks run at that moment ("tree MB").
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import itertools
import os
import random
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from bench._stack import engine_stack, rss_and_fds

DAG_ID = "soak_every_minute"
DAG_SOURCE = f"""
    import pendulum
    from airflow import DAG
    from airflow.operators.bash import BashOperator

    with DAG("{DAG_ID}", schedule="* * * * *", start_date=pendulum.now("UTC").subtract(minutes=2), catchup=False):
        BashOperator(task_id="echo", bash_command="echo soak") >> BashOperator(task_id="sleep", bash_command="sleep 1")
"""
READS = [
    "/api/experimental/pools",
    f"/api/experimental/dags/{DAG_ID}/dag_runs",
    "/api/experimental/latest_runs",
    "/api/experimental/test",
]


_serials = itertools.count()  # next() on a count is atomic under the GIL


def load(port: int, stop: threading.Event, tally: dict[str, int]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    number = 0
    while not stop.is_set():
        number += 1
        try:
            if number % 50 == 0:
                serial = next(_serials)
                # Now, to the microsecond, plus a serial: a run's execution date is unique per DAG.
                when = (dt.datetime.now(dt.UTC) + dt.timedelta(microseconds=serial)).isoformat()
                body = f'{{"run_id": "soak_manual_{serial}", "execution_date": "{when}"}}'
                connection.request("POST", f"/api/experimental/dags/{DAG_ID}/dag_runs", body=body)
            else:
                connection.request("GET", random.choice(READS))
            response = connection.getresponse()
            response.read()
            key = "ok" if response.status < 400 else f"error {response.status}"
        except (OSError, http.client.HTTPException) as exc:
            key = f"failed {type(exc).__name__}"
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        tally[key] = tally.get(key, 0) + 1
        time.sleep(0.005)


def own_rss_and_fds(pid: int) -> tuple[float, int]:
    """RSS (MB) and open descriptors of the process alone."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def stored_runs(stack) -> int:
    from slipstream.storage.db import session_scope
    from slipstream.storage.models import DagRun

    with session_scope(stack.settings.database_url, write=False) as session:
        return session.scalar(select(func.count()).select_from(DagRun))


def clean_older_runs(stack, keep_minutes: float) -> None:
    """What `slipstream db clean --clean-before-timestamp <now - keep> --yes` does (the same service)."""
    from slipstream.services.db_cleanup import plan_cleanup, run_cleanup

    before = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=keep_minutes)
    settings = stack.settings
    try:
        run_cleanup(settings.database_url, plan_cleanup(settings.database_url, settings.logs_folder, before))
    except Exception as exc:  # noqa: BLE001 - reported; the soak goes on
        print(f"   db clean failed: {type(exc).__name__}: {exc}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--database-url", help="a PostgreSQL server's admin URL: soak on a scratch database there")
    parser.add_argument(
        "--keep-minutes", type=float, default=10.0, help="remove runs older than this once a minute (0: never)"
    )
    args = parser.parse_args(argv)

    with engine_stack(DAG_ID, DAG_SOURCE, prefix="slipstream_soak_", postgres_admin_url=args.database_url) as stack:
        server, scheduler = stack.server, stack.scheduler
        stop, tally = threading.Event(), {}
        clients = [threading.Thread(target=load, args=(server.port, stop, tally)) for _ in range(args.clients)]
        for client in clients:
            client.start()
        samples: list[dict[str, float]] = []
        started = time.monotonic()
        print(
            f"{'minute':>6}{'API MB':>9}{'API fds':>9}{'sched MB':>10}{'sched fds':>11}{'tree MB':>9}{'tree fds':>10}"
            f"{'runs':>7}  answers",
            flush=True,
        )
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(min(60.0, max(0.0, args.minutes * 60 - (time.monotonic() - started))))
            if args.keep_minutes > 0:
                clean_older_runs(stack, args.keep_minutes)
            sample: dict[str, float] = {"minute": (time.monotonic() - started) / 60}
            sample["api_mb"], sample["api_fds"] = rss_and_fds(server.process.pid)
            sample["sched_mb"], sample["sched_fds"] = own_rss_and_fds(scheduler.pid)
            sample["tree_mb"], sample["tree_fds"] = rss_and_fds(scheduler.pid)
            samples.append(sample)
            print(
                f"{sample['minute']:>6.0f}{sample['api_mb']:>9.0f}{sample['api_fds']:>9}{sample['sched_mb']:>10.0f}"
                f"{sample['sched_fds']:>11}{sample['tree_mb']:>9.0f}{sample['tree_fds']:>10}{stored_runs(stack):>7}"
                f"  {dict(tally)}",
                flush=True,
            )
        stop.set()
        for client in clients:
            client.join(60)
        settled = [s for s in samples if s["minute"] >= 10] or samples
        first, last = settled[0], samples[-1]
        errors = {k: v for k, v in tally.items() if k != "ok"}
        cleaning = f"runs older than {args.keep_minutes:g} min removed" if args.keep_minutes > 0 else "no cleaning"
        print(
            f"\nSoak of {args.minutes:g} minutes, {args.clients} API clients, a DAG every minute "
            f"({stack.backend}; {cleaning}):"
        )
        for label, key in (("API server", "api"), ("scheduler", "sched")):
            mb, fds = f"{key}_mb", f"{key}_fds"
            growth = (last[mb] - first[mb]) / first[mb] if first[mb] else 0.0
            print(
                f"   {label}: RSS {first[mb]:.0f} MB at minute {first['minute']:.0f} -> {last[mb]:.0f} MB "
                f"({growth:+.1%}; target < +10%: {'holds' if growth < 0.10 else 'NO'}); "
                f"descriptors {first[fds]:.0f} -> {last[fds]:.0f} "
                f"({'no growth' if last[fds] <= first[fds] else 'GREW'})"
            )
        print(f"   answers: {tally.get('ok', 0):,} ok; errors: {errors or 'none'}")


if __name__ == "__main__":
    main()

"""A burst of triggers (issue 15): N triggers sent as fast as 32 clients can, to a real `slipstream api`
with a real `slipstream scheduler` running the runs (LocalExecutor; SQLite WAL, or a scratch PostgreSQL
database):

    python -m bench.burst                  # 2,000 triggers (what `make bench` runs: a few minutes in all)
    python -m bench.burst --burst 10000    # the issue's 10,000
    python -m bench.burst --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test   # on PostgreSQL

Prints the time until every trigger is acknowledged, until every acknowledged run has ended, whether
every acknowledged run exists and ended (none lost), the p99 from a run's start to its first task's
start (target under 1 s), and the peak RSS of the API server and of the scheduler (with its fork
server and task processes' parent). Each run is one no-op bash task; the DAG allows 64 active runs.
Its baseline: one trigger alone on the idle system, in the same run. It prints; it never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time

from sqlalchemy import func, select

from bench._stack import engine_stack, peak_rss_mb

DAG_ID = "bench_burst"
DAG_SOURCE = f"""
    import pendulum
    from airflow import DAG
    from airflow.operators.bash import BashOperator

    with DAG("{DAG_ID}", schedule=None, start_date=pendulum.datetime(2019, 1, 1), max_active_runs=64):
        BashOperator(task_id="noop", bash_command="true")
"""
CLIENTS = 32
# In the past: a run waits for its logical date before it starts.
EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def trigger_request(port: int, n: int) -> bytes:
    when = (EPOCH + dt.timedelta(seconds=n)).isoformat()
    body = b'{"run_id": "burst_%d", "execution_date": "%s"}' % (n, when.encode())
    head = (
        f"POST /api/experimental/dags/{DAG_ID}/dag_runs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def send_burst(port: int, count: int, first: int = 0) -> tuple[set[str], dict[int, int], float]:
    """`count` triggers over CLIENTS keep-alive connections; (acknowledged run ids, statuses, seconds)."""
    from bench._load import _open

    numbers = iter(range(first, first + count))
    acknowledged: set[str] = set()
    statuses: dict[int, int] = {}
    started = time.perf_counter()

    async def client() -> None:
        connection = await _open("127.0.0.1", port)
        try:
            for n in numbers:
                status, keep_alive = await connection.exchange(trigger_request(port, n))
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    acknowledged.add(f"burst_{n}")
                if not keep_alive or connection.closed:
                    connection.close()
                    connection = await _open("127.0.0.1", port)
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return acknowledged, statuses, time.perf_counter() - started


def ended(database_url: str, run_ids: set[str]) -> tuple[int, int, list[float]]:
    """(runs stored, runs ended, each ended run's seconds from its start to its first task's start)."""
    from slipstream.storage.db import session_scope
    from slipstream.storage.models import DagRun, TaskInstance

    with session_scope(database_url, write=False) as session:
        rows = session.execute(
            select(DagRun.run_id, DagRun.state, DagRun.start_date, func.min(TaskInstance.start_date))
            .join(TaskInstance, (TaskInstance.dag_id == DagRun.dag_id) & (TaskInstance.run_id == DagRun.run_id))
            .where(DagRun.dag_id == DAG_ID)
            .group_by(DagRun.run_id, DagRun.state, DagRun.start_date)
        ).all()
    stored = {row[0] for row in rows} & run_ids
    done = [row for row in rows if row[0] in run_ids and row[1] in ("success", "failed")]
    delays = [(row[3] - row[2]).total_seconds() for row in done if row[2] and row[3]]
    return len(stored), len(done), delays


def p99(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def p50(values: list[float]) -> float:
    return sorted(values)[len(values) // 2] if values else float("nan")


def wait_until_ended(database_url: str, run_ids: set[str], deadline: float) -> tuple[int, int, list[float], float]:
    started = time.monotonic()
    while True:
        stored, done, delays = ended(database_url, run_ids)
        if done >= len(run_ids) or time.monotonic() > deadline:
            return stored, done, delays, time.monotonic() - started
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=2_000, help="triggers to send (default 2,000)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the runs to end")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server's admin URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test): "
        "run on a scratch database there instead of SQLite",
    )
    args = parser.parse_args(argv)

    from bench._load import run_with_uvloop

    with engine_stack(DAG_ID, DAG_SOURCE, prefix="slipstream_burst_", postgres_admin_url=args.database_url) as stack:
        url, port = stack.settings.database_url, stack.server.port
        # Baseline: one trigger alone, run to its end.
        one, _, one_ack = run_with_uvloop(send_burst(port, 1, first=10_000_000))
        _, _, one_delays, one_end = wait_until_ended(url, one, time.monotonic() + 60)
        acknowledged, statuses, ack_seconds = run_with_uvloop(send_burst(port, args.burst))
        stored, done, delays, end_seconds = wait_until_ended(url, acknowledged, time.monotonic() + args.timeout)
        api_rss = peak_rss_mb(stack.server.process.pid)
        scheduler_rss = peak_rss_mb(stack.scheduler.pid)
        print(
            f"\nA burst of {args.burst:,} triggers from {CLIENTS} clients ({stack.backend}, LocalExecutor, 1 scheduler)"
        )
        print(f"   baseline, one trigger alone: acknowledged in {one_ack * 1000:.0f} ms, ended {one_end:.1f} s later")
        print(
            f"   acknowledged: {len(acknowledged):,} in {ack_seconds:.1f} s "
            f"({len(acknowledged) / ack_seconds:,.0f}/s); "
            f"answers {dict(sorted(statuses.items()))}"
        )
        verdict = "all" if done == len(acknowledged) else f"NO: {len(acknowledged) - done:,} not ended"
        print(
            f"   stored: {stored:,} of {len(acknowledged):,} acknowledged (lost: {len(acknowledged) - stored:,}); "
            f"ended: {done:,} ({verdict}) {end_seconds:.1f} s after the last acknowledgement"
        )
        print(
            f"   run start -> first task start: p99 {p99(delays):.2f} s, median {p50(delays):.2f} s (target p99 < 1 s: "
            f"{'holds' if p99(delays) < 1 else 'NO'}); alone: {p99(one_delays):.2f} s"
        )
        print(f"   peak RSS: API server {api_rss:.0f} MB, scheduler {scheduler_rss:.0f} MB")
        if done < len(acknowledged):
            print("   the scheduler's log ends with:\n      " + "\n      ".join(stack.scheduler_log_tail()))


if __name__ == "__main__":
    main()

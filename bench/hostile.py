"""The API under hostile load (issue 15), each figure beside its own baseline from the same run:

    python -m bench.hostile                    # every part
    python -m bench.hostile --only flood       # one part: flood, slow

- flood: an authenticated client's GET /pools (16 keep-alive connections) alone, then while one
  anonymous client sends wrong passwords on 32 connections. Target: at least 80% of the throughput
  alone, p99 at most 3 times.
- slow: a legitimate client's GET /pools alone, then while N slow connections (half a request header,
  then a header line every few seconds) are held open. Target: p99 at most 100 ms.
- size: the run list (of a DAG with 100 runs), GET /latest_runs and a trigger, with 100 runs stored,
  then with 100,000 runs and 1,000,000 task instances stored (generated in bulk, bench/_bulk.py).
  Target: each within twice its figure with 100 runs. Then `db clean` of 90% of the bulk: its time,
  and the longest pause a client polling the run list meanwhile saw.

SQLite (WAL) in a temporary SLIPSTREAM_HOME, one uvicorn worker, `basic_auth`. It prints; it never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.api import BASE, BENCH_USER, REPO_ROOT, prepare_database, running_server

POOLS = f"{BASE}/pools"
# The DAG whose run list and triggers are measured, and the one holding the bulk of the rows.
SIZE_DAG = "example_bash_operator"
BULK_DAG = "example_python_operator"
# Triggers go to a third DAG, so the run list measured after them still holds its 100 runs.
TRIGGER_DAG = "example_taskflow"
FLOOD_CONNECTIONS = 32
LEGIT_CONNECTIONS = 16


def load(
    port: int, headers: dict[str, str], concurrency: int, duration: float, warmup: float = 1.0
) -> subprocess.Popen:
    """A load-generator process on GET /pools; its JSON result comes on stdout when it ends."""
    args = [sys.executable, "-m", "bench._load", "--port", str(port), "--path", POOLS]
    args += ["--concurrency", str(concurrency), "--duration", str(duration), "--warmup", str(warmup)]
    for name, value in headers.items():
        args += ["--header", f"{name}: {value}"]
    return subprocess.Popen(args, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)


def result_of(process: subprocess.Popen) -> dict:
    out, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the load generator failed (exit {process.returncode})")
    return json.loads(out)["target"][0]


def statuses(result: dict) -> str:
    return ", ".join(f"{status}: {count:,}" for status, count in sorted(result["statuses"].items()))


def row(label: str, result: dict, base: dict | None = None) -> str:
    line = f"   {label:<44}{result['rps']:>9,.0f}{result['p50_ms']:>8.2f}{result['p99_ms']:>9.2f}"
    if base is not None:
        line += f"{result['rps'] / base['rps']:>8.0%}{result['p99_ms'] / base['p99_ms']:>8.1f}x"
    return line


def header() -> str:
    return f"   {'':<44}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>9}{'of alone':>8}{'p99':>9}"


def bench_flood(port: int, good: dict[str, str], seconds: float) -> None:
    from bench._load import basic_auth_header

    wrong = {"Authorization": basic_auth_header(BENCH_USER[0], "not-the-password")}
    alone = result_of(load(port, good, LEGIT_CONNECTIONS, seconds))
    attacker = load(port, wrong, FLOOD_CONNECTIONS, seconds + 3, warmup=0.5)
    time.sleep(1.0)
    during = result_of(load(port, good, LEGIT_CONNECTIONS, seconds))
    flood = result_of(attacker)
    print(f"\nWrong-password flood: {FLOOD_CONNECTIONS} attacker connections, {LEGIT_CONNECTIONS} legitimate ones")
    print(header())
    print(row("GET /pools, basic_auth, alone", alone))
    print(row("GET /pools, basic_auth, during the flood", during, alone))
    print(f"   {'the flood itself (wrong passwords)':<44}{flood['rps']:>9,.0f}   answers: {statuses(flood)}")
    share, p99 = during["rps"] / alone["rps"], during["p99_ms"] / alone["p99_ms"]
    print(
        f"   target: >= 80% of alone ({'holds' if share >= 0.8 else 'NO'}), p99 <= 3x "
        f"({'holds' if p99 <= 3 else 'NO'}); legitimate answers during the flood: {statuses(during)}"
    )


async def _hold_slow(port: int, count: int, seconds: float, interval: float) -> dict:
    """`count` connections sending half a request header, then one header line every `interval` s."""
    opened = closed_by_server = 0
    stop = time.monotonic() + seconds

    async def one(number: int) -> None:
        nonlocal opened, closed_by_server
        while time.monotonic() < stop:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.5)
                continue
            opened += 1
            try:
                writer.write(f"GET {POOLS} HTTP/1.1\r\nHost: x\r\n".encode())
                line = 0
                while time.monotonic() < stop:
                    await asyncio.sleep(interval)
                    if reader.at_eof() or writer.is_closing():
                        break
                    writer.write(f"X-Slow-{line}: {number}\r\n".encode())
                    await writer.drain()
                    line += 1
                else:
                    continue
                closed_by_server += 1
            except (ConnectionError, OSError):
                closed_by_server += 1
            finally:
                writer.close()

    async def watch_eof() -> None:
        pass

    await asyncio.gather(*(one(n) for n in range(count)))
    return {"opened": opened, "closed_by_server": closed_by_server}


def bench_slow(port: int, good: dict[str, str], seconds: float, count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 200:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1000), hard))
    alone = result_of(load(port, good, LEGIT_CONNECTIONS, seconds))
    holder = subprocess.Popen(
        [sys.executable, "-m", "bench.hostile", "--hold-slow", str(port), str(count), str(seconds + 6)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(4.0)  # let the slow connections open
    during = result_of(load(port, good, LEGIT_CONNECTIONS, seconds))
    held, _ = holder.communicate()
    held_stats = json.loads(held) if held.strip() else {}
    print(f"\nSlow clients: {count:,} connections sending half a header, then a line every 5 s")
    print(header())
    print(row("GET /pools, basic_auth, alone", alone))
    print(row(f"GET /pools, basic_auth, {count:,} slow clients held", during, alone))
    print(
        f"   target: p99 <= 100 ms ({'holds' if during['p99_ms'] <= 100 else 'NO'}); legitimate answers: "
        f"{statuses(during)}; slow connections opened {held_stats.get('opened', '?')}, "
        f"cut off by the server {held_stats.get('closed_by_server', '?')}"
    )


_TRIGGER_EPOCH = dt.datetime.now(dt.UTC)


def unique_trigger_body(n: int) -> bytes:
    """The n-th trigger of this generator process: a run id and an execution date no other one uses."""
    when = (_TRIGGER_EPOCH + dt.timedelta(milliseconds=n)).isoformat()
    return b'{"run_id": "size_%d_%d", "execution_date": "%s"}' % (os.getpid(), n, when.encode())


SIZE_LINES = [
    ("run list (DAG with 100 runs)", f"{BASE}/dags/{SIZE_DAG}/dag_runs", "GET", None),
    ("GET /latest_runs", f"{BASE}/latest_runs", "GET", None),
    ("trigger (POST .../dag_runs)", f"{BASE}/dags/{TRIGGER_DAG}/dag_runs", "POST", "bench.hostile:unique_trigger_body"),
]


def _measure_size_lines(port: int, seconds: float) -> list[dict]:
    results = []
    for _label, path, method, factory in SIZE_LINES:
        cmd = [sys.executable, "-m", "bench._load", "--port", str(port), "--path", path, "--method", method]
        cmd += ["--concurrency", str(LEGIT_CONNECTIONS), "--duration", str(seconds), "--warmup", "1"]
        if factory:
            cmd += ["--body-factory", factory]
        out = subprocess.run(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, check=True).stdout
        results.append(json.loads(out)["target"][0])
    return results


def _poll_pauses(port: int, stop: threading.Event, pauses: list[float]) -> None:
    """A client reading the run list in a loop; each answer's latency (the longest is the pause seen)."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.is_set():
        started = time.perf_counter()
        connection.request("GET", f"{BASE}/dags/{SIZE_DAG}/dag_runs")
        response = connection.getresponse()
        response.read()
        pauses.append(time.perf_counter() - started)
        if response.status != 200:
            pauses.append(float("inf"))
        time.sleep(0.01)


def bench_size(settings, env: dict[str, str], args) -> None:
    from bench._bulk import START, generate
    from slipstream.services.db_cleanup import plan_cleanup, run_cleanup

    _seed_small_dag(settings)
    with running_server("slipstream", env, 1) as server:
        small = _measure_size_lines(server.port, args.seconds)
    started = time.monotonic()
    generate(settings.database_url, BULK_DAG, args.bulk_runs, args.tis_per_run)
    generated = time.monotonic() - started
    with running_server("slipstream", env, 1) as server:
        large = _measure_size_lines(server.port, args.seconds)
        cutoff = START + dt.timedelta(minutes=int(args.bulk_runs * 0.9))
        stop, pauses = threading.Event(), []
        poller = threading.Thread(target=_poll_pauses, args=(server.port, stop, pauses))
        poller.start()
        time.sleep(1.0)
        plan = plan_cleanup(settings.database_url, settings.logs_folder, cutoff, ("dag_run",))
        result = run_cleanup(settings.database_url, plan)
        time.sleep(0.5)
        stop.set()
        poller.join()
    tis = args.bulk_runs * args.tis_per_run
    print(f"\nA growing database: {args.bulk_runs:,} runs and {tis:,} task instances generated in {generated:.0f} s")
    print(f"   {'':<36}{'100 runs: req/s':>16}{'p99 ms':>8}{'bulk: req/s':>13}{'p99 ms':>8}{'ratio':>7}")
    for (label, *_rest), before, after in zip(SIZE_LINES, small, large, strict=True):
        ratio = before["rps"] / after["rps"] if after["rps"] else float("inf")
        verdict = "holds" if ratio <= 2 else "NO"
        print(
            f"   {label:<36}{before['rps']:>16,.0f}{before['p99_ms']:>8.1f}{after['rps']:>13,.0f}"
            f"{after['p99_ms']:>8.1f}{ratio:>6.2f}x  (target <= 2x slower: {verdict}; answers {statuses(after)})"
        )
    counts = result.counts
    longest = max(pauses, default=0.0)
    print(
        f"   db clean of 90%: {counts.get('dag_run', 0):,} runs and {counts.get('task_instance', 0):,} task "
        f"instances in {result.seconds:.1f} s ({result.batches} batches, longest "
        f"{result.longest_batch_seconds * 1000:.0f} ms); a client polling the run list meanwhile: "
        f"{len(pauses)} answers, longest pause {longest * 1000:.0f} ms "
        f"(target <= 1000 ms: {'holds' if longest <= 1 else 'NO'})"
    )


def _seed_small_dag(settings) -> None:
    from slipstream.services import dag_runs
    from slipstream.storage.db import session_scope

    with session_scope(settings.database_url) as session:
        for i in range(100):
            request = dag_runs.TriggerRequest(
                run_id=f"seed_{i}",
                conf={},
                execution_date=dt.datetime(2019, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=i),
                replace_microseconds=False,
            )
            dag_runs.trigger_dag_run(session, SIZE_DAG, request)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=["flood", "slow", "size"])
    parser.add_argument("--bulk-runs", type=int, default=100_000, help="runs stored in bulk for `size`")
    parser.add_argument("--tis-per-run", type=int, default=10, help="task instances per bulk run")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per line (default 5)")
    parser.add_argument("--slow-connections", type=int, default=5000)
    parser.add_argument("--hold-slow", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.hold_slow:
        port, count, seconds = int(args.hold_slow[0]), int(args.hold_slow[1]), float(args.hold_slow[2])
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1000), hard))
        print(json.dumps(asyncio.run(_hold_slow(port, count, seconds, 5.0))))
        return
    parts = args.only or ["flood", "slow", "size"]

    from bench._load import basic_auth_header
    from slipstream.config import Settings

    home = Path(tempfile.mkdtemp(prefix="slipstream_hostile_"))
    try:
        settings = Settings(home=home, database_url=f"sqlite:///{home / 'slipstream.db'}", load_examples=True)
        print("Preparing SQLite (WAL): migrations, example DAGs, a basic_auth user ...", flush=True)
        if note := prepare_database(settings, 0):
            print(f"not measured: {note}")
            return
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPSTREAM_")}
        env.update(
            SLIPSTREAM_HOME=str(home),
            SLIPSTREAM_DATABASE_URL=settings.database_url,
            SLIPSTREAM_HOST="127.0.0.1",
            SLIPSTREAM_LOAD_EXAMPLES="true",
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        )
        good = {"Authorization": basic_auth_header(*BENCH_USER)}
        if "flood" in parts:
            with running_server("slipstream", env, 1, auth="basic_auth") as server:
                bench_flood(server.port, good, args.seconds)
        if "slow" in parts:
            with running_server("slipstream", env, 1, auth="basic_auth") as server:
                bench_slow(server.port, good, args.seconds, args.slow_connections)
        if "size" in parts:
            bench_size(settings, env, args)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()

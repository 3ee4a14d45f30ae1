"""A closed-loop HTTP/1.1 load generator: N keep-alive connections, one request in flight on each.

Raw asyncio protocols (on uvloop when installed) rather than an HTTP client library, so that one
core of generator outruns one uvicorn worker by a wide margin. It runs in its own process.

Endpoints are measured in interleaved slices (round 1: A, B, C; round 2: B, C, A; ...) rather than
one after the other, so that a change in the machine's background load (other processes on a
shared machine) hits every endpoint alike and the ratios between them stay meaningful.

    python -m bench._load --port 8080 --path /api/experimental/test      # one endpoint, JSON out
    python -m bench._load --plan -                                        # a plan (JSON) on stdin

A plan: {"targets": [{"key", "port", "path", "method"?, "headers"?, "body_factory"?, "pids"?}],
"phases": [[key, ...], ...], "rounds", "slice", "slice_warmup", "warmup", "concurrency"}. Each phase
warms its targets up, then runs `rounds` rounds of one `slice`-second window per target. Output:
{key: [one result per phase the key is in]}, each with req/s, latency percentiles, statuses, and the
CPU (in cores) used by the target's server processes, by this generator and by everything else.
`body_factory` is "module:function", a function of the request's serial number returning bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib
import itertools
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

RequestFactory = Callable[[int], bytes]
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def request_bytes(method: str, host: str, port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def basic_auth_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


# -- the client -----------------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `exchange` sends a request and waits for the whole response."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.last_body = b""

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"server closed the connection: {exc}"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        parsed = _parse_response(self.buffer)
        if parsed is not None:
            status, body, used, keep_alive = parsed
            del self.buffer[:used]
            self.last_body = body
            self.waiter.set_result((status, keep_alive))

    async def exchange(self, request: bytes) -> tuple[int, bool]:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _parse_response(buffer: bytearray) -> tuple[int, bytes, int, bool] | None:
    """(status, body, bytes used, keep-alive) once a whole response is in the buffer, else None."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(buffer[:head_end]).lower()
    status = int(head[9:12])
    start = head_end + 4
    keep_alive = b"\r\nconnection: close" not in head
    marker = head.find(b"\r\ncontent-length:")
    if marker >= 0:
        value_end = head.find(b"\r\n", marker + 2)
        length = int(head[marker + 17 : value_end if value_end > 0 else len(head)])
        if len(buffer) < start + length:
            return None
        return status, bytes(buffer[start : start + length]), start + length, keep_alive
    if b"\r\ntransfer-encoding: chunked" in head:
        body = bytearray()
        pos = start
        while True:
            line_end = buffer.find(b"\r\n", pos)
            if line_end < 0:
                return None
            size = int(bytes(buffer[pos:line_end]).split(b";")[0], 16)
            if len(buffer) < line_end + 2 + size + 2:
                return None
            body += buffer[line_end + 2 : line_end + 2 + size]
            pos = line_end + 2 + size + 2
            if size == 0:
                return status, bytes(body), pos, keep_alive
    if status in (204, 304) or 100 <= status < 200:
        return status, b"", start, keep_alive
    raise ValueError("response without Content-Length or chunked encoding: cannot tell where it ends")


async def _open(host: str, port: int) -> _Connection:
    _transport, protocol = await asyncio.get_running_loop().create_connection(_Connection, host, port)
    return protocol


# -- CPU accounting -------------------------------------------------------------------------------


def _process_tree(pid: int) -> list[int]:
    """pid and its descendants (uvicorn's worker processes)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(raw[raw.rindex(")") + 2 :].split()[1])
    tree, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        tree += children
        frontier += children
    return tree


def _processes_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return total


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _machine_busy_cpu() -> float:
    """CPU seconds every core of the machine spent busy (not idle, not waiting for I/O)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / _CLOCK_TICKS


@dataclass
class _CpuMark:
    server: float
    own: float
    machine: float

    @classmethod
    def now(cls, server_pids: list[int]) -> _CpuMark:
        return cls(_processes_cpu(server_pids), _own_cpu(), _machine_busy_cpu())


# -- measuring ------------------------------------------------------------------------------------


@dataclass
class Target:
    key: str
    port: int
    make_request: RequestFactory
    host: str = "127.0.0.1"
    server_pids: list[int] = field(default_factory=list)


@dataclass
class Tally:
    """What one target did over the windows of one phase."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    server_cpu: float = 0.0
    generator_cpu: float = 0.0
    other_cpu: float = 0.0
    first_error: str = ""

    def summary(self) -> dict:
        ordered = sorted(self.latencies)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else float("nan")

        seconds = self.seconds or float("nan")
        return {
            "requests": len(ordered),
            "seconds": self.seconds,
            "rps": len(ordered) / seconds,
            "p50_ms": pct(0.50),
            "p90_ms": pct(0.90),
            "p99_ms": pct(0.99),
            "max_ms": ordered[-1] * 1000 if ordered else float("nan"),
            "statuses": self.statuses,
            "server_cpu": self.server_cpu / seconds,
            "generator_cpu": self.generator_cpu / seconds,
            "other_cpu": self.other_cpu / seconds,
            "first_error": self.first_error,
        }


_serial = itertools.count()


async def drive(target: Target, concurrency: int, warmup: float, seconds: float, tally: Tally | None) -> None:
    """Keep `concurrency` requests in flight on fresh connections for warmup + seconds; tally the
    requests that complete in the last `seconds` (their count over the window is the throughput)."""
    clock = time.perf_counter
    window_start = clock() + warmup
    window_end = window_start + seconds
    marks: list[_CpuMark] = []

    async def client() -> None:
        connection = await _open(target.host, target.port)
        try:
            while True:
                request = target.make_request(next(_serial))
                t0 = clock()
                if t0 >= window_end:
                    return
                status, keep_alive = await connection.exchange(request)
                t1 = clock()
                if tally is not None and window_start <= t1 <= window_end:
                    tally.latencies.append(t1 - t0)
                    key = str(status)
                    tally.statuses[key] = tally.statuses.get(key, 0) + 1
                    if status >= 400 and not tally.first_error:
                        tally.first_error = f"{status} {connection.last_body[:300].decode('utf-8', 'replace')}"
                if not keep_alive or connection.closed:
                    connection.close()
                    connection = await _open(target.host, target.port)
        finally:
            connection.close()

    async def mark_window() -> None:
        await asyncio.sleep(max(0.0, window_start - clock()))
        marks.append(_CpuMark.now(target.server_pids))
        await asyncio.sleep(max(0.0, window_end - clock()))
        marks.append(_CpuMark.now(target.server_pids))

    marker = asyncio.ensure_future(mark_window())
    await asyncio.gather(*(client() for _ in range(concurrency)))
    await marker
    if tally is not None:
        before, after = marks
        tally.seconds += seconds
        tally.server_cpu += after.server - before.server
        tally.generator_cpu += after.own - before.own
        tally.other_cpu += max(
            0.0, (after.machine - before.machine) - (after.server - before.server) - (after.own - before.own)
        )


async def run_plan(
    targets: dict[str, Target],
    phases: list[list[str]],
    *,
    rounds: int = 5,
    slice_seconds: float = 1.0,
    slice_warmup: float = 0.25,
    warmup: float = 2.0,
    concurrency: int = 16,
) -> dict[str, list[dict]]:
    """Each phase: warm each target up, then `rounds` rounds of one window per target, in rotating order."""
    results: dict[str, list[dict]] = {key: [] for key in targets}
    for keys in phases:
        for key in keys:
            await drive(targets[key], concurrency, warmup, 0.0, None)
        tallies = {key: Tally() for key in keys}
        for round_number in range(rounds):
            shift = round_number % len(keys)
            for key in keys[shift:] + keys[:shift]:
                await drive(targets[key], concurrency, slice_warmup, slice_seconds, tallies[key])
        for key in keys:
            results[key].append(tallies[key].summary())
    return results


# -- command line ---------------------------------------------------------------------------------


def _load_factory(spec: str) -> Callable[[int], bytes]:
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def make_target(spec: dict) -> Target:
    host = spec.get("host", "127.0.0.1")
    method = spec.get("method", "GET").upper()
    headers = spec.get("headers", {})
    if spec.get("body_factory"):
        body_for = _load_factory(spec["body_factory"])

        def make_request(n: int) -> bytes:
            return request_bytes(method, host, spec["port"], spec["path"], headers, body_for(n))
    else:
        fixed = request_bytes(method, host, spec["port"], spec["path"], headers, b"")

        def make_request(n: int) -> bytes:
            return fixed

    pids = [p for pid in spec.get("pids", []) for p in _process_tree(pid)]
    return Target(spec["key"], spec["port"], make_request, host, pids)


def run_with_uvloop(coroutine):
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(coroutine)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", help="a plan as JSON, or - to read it from stdin")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--path")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--body-factory", help="module:function(n) -> bytes, one body per request")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args(argv)

    if args.plan:
        plan = json.loads(sys.stdin.read() if args.plan == "-" else args.plan)
        targets = {spec["key"]: make_target(spec) for spec in plan["targets"]}
        results = run_with_uvloop(
            run_plan(
                targets,
                plan["phases"],
                rounds=plan.get("rounds", 5),
                slice_seconds=plan.get("slice", 1.0),
                slice_warmup=plan.get("slice_warmup", 0.25),
                warmup=plan.get("warmup", 2.0),
                concurrency=plan.get("concurrency", 16),
            )
        )
    else:
        if args.port is None or args.path is None:
            parser.error("--port and --path are needed without --plan")
        headers = {k.strip(): v.strip() for k, v in (h.split(":", 1) for h in args.header)}
        spec = {"key": "target", "host": args.host, "port": args.port, "path": args.path, "method": args.method}
        spec.update(headers=headers, body_factory=args.body_factory)
        tally = Tally()
        target = make_target(spec)
        run_with_uvloop(drive(target, args.concurrency, args.warmup, args.duration, tally))
        results = {"target": [tally.summary()]}
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

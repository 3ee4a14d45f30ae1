"""`python -m bench`: run every benchmark module in this folder, one process each.

Modules starting with `_` are helpers; `fuzz` is not a benchmark (`make fuzz` runs it). After them,
the scale-out figures (issue 4), when PostgreSQL (and, for Celery, Redis) answer, a line saying why
not otherwise: the API with 1 and 2 workers on PostgreSQL (trigger throughput, read latency), and
1,000 no-op tasks on PostgreSQL with 1 and 2 schedulers, LocalExecutor and CeleryExecutor.
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

from bench.engine import reachable

NOT_BENCHMARKS = {"fuzz", "soak"}  # soak runs an hour: `python -m bench.soak`
SCALE_OUT = ["--executor", "both", "--schedulers", "2"]
SCALE_OUT_COMMAND = f"python -m bench.engine {' '.join(SCALE_OUT)}"


def _postgres_address() -> tuple[str, int]:
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url())
    return url.host or "127.0.0.1", url.port or 5432


def postgres_skipped() -> str | None:
    """Why PostgreSQL cannot be benchmarked here, or None."""
    try:
        host, port = _postgres_address()
    except Exception as exc:  # a malformed SLIPSTREAM_TEST_POSTGRES_URL
        return f"SLIPSTREAM_TEST_POSTGRES_URL is not usable ({exc})"
    if not reachable(host, port):
        return f"PostgreSQL does not answer at {host}:{port}"
    return None


def postgres_url() -> str:
    return os.environ.get("SLIPSTREAM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def scale_out_skipped() -> str | None:
    """Why the scale-out benchmark cannot run here, or None."""
    why = postgres_skipped()
    if why is not None:
        return why
    if not reachable("127.0.0.1", 6379):
        return "Redis does not answer at 127.0.0.1:6379"
    return None


def main() -> int:
    folder = Path(__file__).parent
    modules = pkgutil.iter_modules([str(folder)])
    names = sorted(m.name for m in modules if not m.name.startswith("_") and m.name not in NOT_BENCHMARKS)
    failed = []
    for name in names:
        print(f"\n===== bench.{name} =====", flush=True)
        if subprocess.call([sys.executable, "-m", f"bench.{name}"], cwd=folder.parent) != 0:
            failed.append(name)
    for workers in (1, 2):
        api_args = ["--workers", str(workers), "--database-url", postgres_url()]
        print(f"\n===== bench.api --workers {workers} on PostgreSQL (scale-out) =====", flush=True)
        why = postgres_skipped()
        if why is not None:
            print(f"skipped: {why}; when it answers, run `python -m bench.api {' '.join(api_args)}`", flush=True)
        elif subprocess.call([sys.executable, "-m", "bench.api", *api_args], cwd=folder.parent) != 0:
            failed.append(f"api --workers {workers} (PostgreSQL)")
    print(f"\n===== bench.engine {' '.join(SCALE_OUT)} (scale-out) =====", flush=True)
    why = scale_out_skipped()
    if why is not None:
        print(f"skipped: {why}; when both answer, run `{SCALE_OUT_COMMAND}`", flush=True)
    elif subprocess.call([sys.executable, "-m", "bench.engine", *SCALE_OUT], cwd=folder.parent) != 0:
        failed.append("engine (scale-out)")
    if failed:
        print(f"\nbenchmarks that did not complete: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

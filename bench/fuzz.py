"""`make fuzz`: Schemathesis, deep, against a live Slipstream API with basic_auth on, over both contracts
(/api/experimental and /api/v1, each through the spec it serves).

    python -m bench.fuzz                          # defaults: 200 examples per operation, fixed seed
    python -m bench.fuzz --max-examples 300 --seed 7 --phases examples,coverage,fuzzing,stateful
    python -m bench.fuzz --api v1                 # one contract only

It builds a throwaway SLIPSTREAM_HOME (migrated SQLite, example DAGs through the dag processor,
one basic_auth user with a random password), starts `slipstream api` on a free 127.0.0.1 port,
and runs Schemathesis 4's engine against the served spec: positive and negative data, every
check (ignored_auth included), the examples, coverage, fuzzing and stateful (links) phases. It
prints cases, checks and seconds per contract, then every distinct failure with a curl to reproduce
it (a 5xx fails the not_a_server_error check), stops the server and exits 1 if anything failed or the
server logged a traceback (2 if the run itself could not be done).

`run_engine()` is shared with tests/security/test_fuzz_auth.py, which runs a small bounded slice
of the same checks in-process on every `make test`.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BASE_PATH = "/api/experimental"
# Each contract `make fuzz` runs against, by the name --api takes.
APIS = {"experimental": BASE_PATH, "v1": "/api/v1"}
DEFAULT_SEED = 20261126
PHASES = ("examples", "coverage", "fuzzing", "stateful")
FUZZ_USER = "fuzzer"


def schemathesis_config(
    *,
    username: str,
    password: str,
    seed: int = DEFAULT_SEED,
    max_examples: int = 100,
    phases: tuple[str, ...] = PHASES,
    workers: int = 1,
    max_failures: int | None = None,
    stateful_max_steps: int | None = None,
):
    """Every check on, positive and negative data, the given phases, HTTP Basic credentials."""
    import schemathesis

    phase_config: dict[str, Any] = {name: {"enabled": name in phases} for name in PHASES}
    if stateful_max_steps is not None:
        phase_config["stateful"]["max-steps"] = stateful_max_steps
    data: dict[str, Any] = {
        "seed": seed,
        "workers": workers,
        "auth": {"basic": {"username": username, "password": password}},
        "checks": {
            "enabled": True,
            # The contract answers 400 to requests the schema cannot tell apart from good ones: dates that do
            # not parse, an unknown DAG on the run list, deleting default_pool, slots strings that are not
            # integers. Airflow does the same; everything else about positive data is still checked.
            "positive_data_acceptance": {"expected-statuses": ["2xx", "3xx", 400, 401, 403, 404, 409, 429, "5xx"]},
        },
        "generation": {"mode": "all", "max-examples": max_examples, "database": "none"},
        "phases": phase_config,
        "suppress-health-check": ["all"],
    }
    if max_failures is not None:
        data["max-failures"] = max_failures
    return schemathesis.Config.from_dict(data)


@dataclass
class FoundFailure:
    operation: str
    check: str
    title: str
    message: str
    reproduce: str
    count: int = 1


@dataclass
class FuzzReport:
    cases: int = 0
    checks: int = 0
    seconds: float = 0.0
    stop_reason: str = ""
    cases_by_phase: Counter = field(default_factory=Counter)
    checks_by_name: Counter = field(default_factory=Counter)
    failed_by_name: Counter = field(default_factory=Counter)
    failures: dict[tuple[str, str, str], FoundFailure] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.errors

    def summary(self) -> str:
        lines = [
            f"Schemathesis: {self.cases} cases, {self.checks} checks in {self.seconds:.1f} s "
            f"(stopped: {self.stop_reason or 'unknown'})",
            "  cases by phase: " + ", ".join(f"{phase} {n}" for phase, n in sorted(self.cases_by_phase.items())),
        ]
        for name in sorted(self.checks_by_name):
            failed = self.failed_by_name[name]
            lines.append(f"  {name:<32} {self.checks_by_name[name]:>7} run, {failed:>4} failed")
        if self.failures:
            lines.append(f"{len(self.failures)} distinct failure(s):")
            for failure in self.failures.values():
                lines.append(f"- [{failure.check}] {failure.operation}: {failure.title} (x{failure.count})")
                if failure.message:
                    lines.extend("    " + line for line in failure.message.strip().splitlines()[:12])
                if failure.reproduce:
                    lines.extend("    " + line for line in failure.reproduce.strip().splitlines())
        for error in self.errors:
            lines.append(f"- error: {error}")
        if self.ok:
            lines.append("No failures.")
        return "\n".join(lines)


def _record(report: FuzzReport, recorder: Any, phase: str) -> None:
    report.cases += len(recorder.cases)
    report.cases_by_phase[phase] += len(recorder.cases)
    for nodes in recorder.checks.values():
        for node in nodes:
            report.checks += 1
            report.checks_by_name[node.name] += 1
            if node.failure_info is None:
                continue
            report.failed_by_name[node.name] += 1
            failure = node.failure_info.failure
            operation = failure.operation or recorder.label
            key = (operation, node.name, failure.title)
            if key in report.failures:
                report.failures[key].count += 1
                continue
            report.failures[key] = FoundFailure(
                operation=operation,
                check=node.name,
                title=failure.title,
                message=failure.message,
                reproduce=node.failure_info.code_sample,
            )


def run_engine(schema: Any) -> FuzzReport:
    """Run Schemathesis's engine (the machinery of `schemathesis run`) and tally what it did."""
    from schemathesis import engine
    from schemathesis.engine import events

    report = FuzzReport()
    started = time.monotonic()
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            _record(report, event.recorder, str(event.phase.value))
        elif isinstance(event, events.FuzzScenarioFinished):
            _record(report, event.recorder, "fuzz")
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            report.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            report.stop_reason = str(event.stop_reason.value)
            for failure in event.failures:
                key = (failure.operation or "", "after_run", failure.title)
                report.failures[key] = FoundFailure(key[0], "after_run", failure.title, failure.message, "")
    report.seconds = time.monotonic() - started
    return report


# -- the live server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_home(home: Path) -> tuple[str, str]:
    """Migrate, load the example DAGs, create the fuzz user; returns (username, password)."""
    from slipstream.config import Settings
    from slipstream.dag_processing import process_all
    from slipstream.services import audit, users
    from slipstream.storage.db import dispose_all, session_scope
    from slipstream.storage.migrations.runner import upgrade

    settings = Settings(home=home, auth_backend="basic_auth", load_examples=True, dags_folder=home / "dags")
    settings.dags_folder.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url, default_pool_slots=settings.default_pool_slots)
    report = process_all(settings)
    if report.import_errors:
        raise RuntimeError(f"example DAGs failed to import: {report.import_errors}")
    password = secrets.token_urlsafe(18)
    with session_scope(settings.database_url) as session:
        users.create_user(session, FUZZ_USER, password, actor=audit.cli_actor())
    dispose_all()
    return FUZZ_USER, password


@contextmanager
def live_server(home: Path, credentials: tuple[str, str], log: Path) -> Iterator[str]:
    """`slipstream api` on a free loopback port, in its own process group; yields the base URL."""
    port = free_port()
    env = dict(os.environ)
    for key in [k for k in env if k.startswith("SLIPSTREAM_")]:
        del env[key]
    env.update(
        SLIPSTREAM_HOME=str(home),
        SLIPSTREAM_DAGS_FOLDER=str(home / "dags"),
        SLIPSTREAM_AUTH_BACKEND="basic_auth",
        # The fuzzer sends wrong credentials by the thousand on purpose: it checks each answer, not the
        # failed-login limits (tests/security/test_auth_limits.py), which would answer 429 after ten.
        SLIPSTREAM_AUTH_FAILURES_PER_MINUTE="0",
        SLIPSTREAM_HOST="127.0.0.1",
        SLIPSTREAM_PORT=str(port),
    )
    base_url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "slipstream.cli", "api", "--port", str(port), "--host", "127.0.0.1"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_ready(process, f"{base_url}{BASE_PATH}/test", credentials, log)
            yield base_url
        finally:
            _stop(process)


def _wait_ready(process: subprocess.Popen, url: str, credentials: tuple[str, str], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API server exited with code {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, auth=credentials, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API server did not answer within 60 s:\n{log.read_text()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=200, help="Examples per operation and phase")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--phases", default=",".join(PHASES), help="Comma-separated: " + ", ".join(PHASES))
    # One worker: with two, Schemathesis's threads race inside CPython 3.11's `ast` module (its recursion
    # counter is shared between threads) and the run reports "AST constructor recursion depth mismatch"
    # errors of its own, on any operation, whenever the spec gives its generators patterns to work on.
    parser.add_argument("--workers", type=int, default=1, help="Concurrent Schemathesis workers")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary SLIPSTREAM_HOME")
    parser.add_argument("--api", choices=[*APIS, "both"], default="both", help="Which contract (default both)")
    args = parser.parse_args(argv)
    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")

    import schemathesis

    home = Path(tempfile.mkdtemp(prefix="slipstream-fuzz-"))
    try:
        credentials = prepare_home(home)
        failed = []
        with live_server(home, credentials, home / "api.log") as base_url:
            for name, base_path in APIS.items():
                if args.api not in (name, "both"):
                    continue
                print(f"Fuzzing {base_url}{base_path} (basic_auth) with seed {args.seed}, phases {', '.join(phases)}")
                config = schemathesis_config(
                    username=credentials[0],
                    password=credentials[1],
                    seed=args.seed,
                    max_examples=args.max_examples,
                    phases=phases,
                    workers=args.workers,
                )
                schema = schemathesis.openapi.from_url(f"{base_url}{base_path}/openapi.json", config=config)
                report = run_engine(schema)
                print(f"{base_path}: {report.summary()}")
                print(f"{base_path}: {report.failed_by_name['not_a_server_error']} server error(s) (5xx)", flush=True)
                if not report.ok:
                    failed.append(base_path)
        server_errors = [line for line in (home / "api.log").read_text().splitlines() if "Traceback" in line]
        if server_errors:
            print(f"The server logged {len(server_errors)} traceback(s); see {home / 'api.log'}")
            args.keep = True
        if failed:
            print(f"Failures in: {', '.join(failed)}")
        return 0 if not failed and not server_errors else 1
    except Exception as exc:
        print(f"fuzz run failed: {exc}", file=sys.stderr)
        args.keep = True
        return 2
    finally:
        if args.keep:
            print(f"Kept {home}")
        else:
            import shutil

            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

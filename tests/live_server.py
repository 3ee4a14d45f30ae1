"""Run real `slipstream` processes for tests: an API server on a free port, a scheduler, and so on."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from slipstream.config import Settings

SLIPSTREAM = [sys.executable, "-m", "slipstream.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SLIPSTREAM_HOME": str(settings.home),
            "SLIPSTREAM_DATABASE_URL": settings.database_url,
            "SLIPSTREAM_DAGS_FOLDER": str(settings.dags_folder),
            "SLIPSTREAM_LOAD_EXAMPLES": "true" if settings.load_examples else "false",
            "SLIPSTREAM_AUTH_BACKEND": settings.auth_backend,
            "SLIPSTREAM_HOST": "127.0.0.1",
        }
    )
    env.update(extra)
    return env


class Process:
    """A child process in its own process group, stopped (and its children with it) on exit."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 10) -> None:
        if self.popen.poll() is None:
            self.kill(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
                self.popen.wait(5)
        self.kill(signal.SIGKILL)  # anything the group left behind
        self._log.close()

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ApiServer(Process):
    def __init__(self, settings: Settings, *, workers: int = 1, log: Path | None = None, **env: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [*SLIPSTREAM, "api", "--workers", str(workers), "--port", str(self.port)],
            environment(settings, SLIPSTREAM_PORT=str(self.port), **env),
            log or settings.home / f"api-{self.port}.log",
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"API server exited early:\n{self.output()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code in (200, 503):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"API server not ready after {timeout} s:\n{self.output()}")

"""The repository's schemathesis.toml makes a plain `schemathesis run <url>/openapi.json --checks all`
(every phase) pass against a live server, for /api/experimental and for /api/v1, as an outside team
would run it from the checkout.

A short run (few examples per operation, one seed); README's "Contract testing with Schemathesis" says
how to run it at full length, and `make fuzz` runs a deeper one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.contract.conftest import PASSWORD, USERNAME

ROOT = Path(__file__).resolve().parent.parent.parent
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")

pytestmark = pytest.mark.slow


def schemathesis_run(url: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCHEMATHESIS), "run", url, "--checks", "all", "--max-examples", "8", "--seed", "3", "--no-color", *extra],
        cwd=ROOT,  # where schemathesis.toml is
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def failures_of(stdout: str) -> str:
    """The failing cases (each with its curl line) ahead of the summary: the summary alone does not say
    which request failed."""
    start = stdout.find(" FAILURES ")
    return (stdout[start - 40 : start + 12000] if start >= 0 else "") + stdout[-3000:]


@pytest.mark.parametrize("api", ["experimental", "v1"])
def test_a_plain_run_from_the_checkout_passes(live_server, api):
    url = f"{live_server.base_url}/api/{api}/openapi.json"
    result = schemathesis_run(url, env={"SLIPSTREAM_API_USER": USERNAME, "SLIPSTREAM_API_PASSWORD": PASSWORD})

    # The server's own log says why a 5xx happened (a traceback, or the database outage it saw).
    assert result.returncode == 0, failures_of(result.stdout) + result.stderr[-2000:] + live_server.output()[-6000:]
    assert "Examples" in result.stdout and "Stateful" in result.stdout  # every phase ran


def test_without_credentials_it_says_which_variables_to_set(live_server):
    env = {k: v for k, v in os.environ.items() if k not in ("SLIPSTREAM_API_USER", "SLIPSTREAM_API_PASSWORD")}
    result = subprocess.run(
        [str(SCHEMATHESIS), "run", f"{live_server.base_url}/api/experimental/openapi.json", "--checks", "all"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "SLIPSTREAM_API_USER" in result.stdout + result.stderr

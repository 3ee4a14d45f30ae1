"""A command run against a database that is missing or not migrated says so in one line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "command",
    [["tasks", "states", "example_bash_operator", "run_1"], ["pools", "list"], ["variables", "list"]],
)
def test_a_command_on_an_unmigrated_home_names_the_fix(tmp_path, command):
    home = tmp_path / "never_migrated"
    env = {**os.environ, "SLIPSTREAM_HOME": str(home)}
    env.pop("SLIPSTREAM_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "slipstream.cli", *command], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    output = " ".join((result.stdout + result.stderr).split())
    assert "Traceback" not in output and "╭" not in output
    assert "slipstream db upgrade" in output

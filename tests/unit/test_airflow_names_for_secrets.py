"""The Airflow module paths for variables, connections and hooks resolve to Slipstream's classes."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
from slipstream import airflow_namespace
airflow_namespace.install()

from airflow.hooks.base import BaseHook
from airflow.models import Connection, Variable
from airflow.models.connection import Connection as ConnectionByModule
from airflow.models.variable import Variable as VariableByModule
import slipstream.sdk.connections as connections
import slipstream.sdk.variables as variables

assert Variable is VariableByModule is variables.Variable
assert Connection is ConnectionByModule is connections.Connection
assert BaseHook is connections.BaseHook
print("ok")
"""


def test_airflow_names_are_the_sdk_classes():
    # A separate interpreter: installing the namespace changes the process's import machinery.
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"

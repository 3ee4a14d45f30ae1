"""Operators of Airflow's that need something Slipstream does not run: each refuses at parse time
with what is missing, so the DAG file is an import error that says why."""

from __future__ import annotations

from typing import Any

from slipstream.sdk.venv import is_venv_installed


class _Unsupported:
    requirement = ""

    def __init__(self, *args: Any, **kwargs: Any):
        name = type(self).__name__
        if self.requirement == "virtualenv" and not is_venv_installed():
            raise ImportError(f"{name} requires virtualenv, please install it.")
        raise NotImplementedError(f"{name} is not supported by Slipstream")


class PythonVirtualenvOperator(_Unsupported):
    requirement = "virtualenv"


class BranchPythonVirtualenvOperator(_Unsupported):
    requirement = "virtualenv"


class ExternalPythonOperator(_Unsupported):
    pass


class BranchExternalPythonOperator(_Unsupported):
    pass

"""`is_venv_installed()`: whether virtualenv-based tasks could run here, answered truthfully."""

from __future__ import annotations

import importlib.util
import shutil


def is_venv_installed() -> bool:
    """True when the `virtualenv` package is importable or its command is on PATH (Airflow's test)."""
    return shutil.which("virtualenv") is not None or importlib.util.find_spec("virtualenv") is not None

"""The `airflow` namespace: Slipstream's modules in DAG-importing processes, a real apache-airflow
untouched for everything else, and clear errors for what is not provided."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, extra_path: Path | None = None) -> str:
    path = [str(ROOT)] + ([str(extra_path)] if extra_path else [])
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": ":".join(path), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    return done.stdout


@pytest.fixture
def fake_airflow(tmp_path) -> Path:
    """A stand-in for an installed apache-airflow: a package named `airflow` on sys.path."""
    package = tmp_path / "site" / "airflow"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("REAL = True\n")
    return tmp_path / "site"


def test_a_real_airflow_stays_what_other_programs_import(fake_airflow):
    out = _run(
        """
        import airflow
        print(getattr(airflow, "REAL", False))
        """,
        fake_airflow,
    )
    assert out.split() == ["True"]


def test_dag_importing_processes_get_slipstreams_and_say_so(fake_airflow):
    out = _run(
        """
        import airflow  # the real one, imported before the namespace is installed
        from slipstream import airflow_namespace
        print(airflow_namespace.describe())
        airflow_namespace.install()
        import airflow
        from airflow.operators.bash import BashOperator
        from slipstream.sdk.operators import BashOperator as Ours
        print(BashOperator is Ours, getattr(airflow, "REAL", False), airflow.__version__)
        """,
        fake_airflow,
    )
    described, identity = out.strip().splitlines()
    assert "apache-airflow installed at" in described and str(fake_airflow) in described
    assert "is not used by DAG files" in described
    assert identity == "True False 2.10.5"


def test_without_a_real_airflow_the_description_says_so():
    out = _run("from slipstream import airflow_namespace; print(airflow_namespace.describe())")
    assert "apache-airflow is not installed" in out


def test_unknown_modules_and_names_are_errors_naming_them():
    out = _run(
        """
        from slipstream import airflow_namespace
        airflow_namespace.install()
        try:
            import airflow.providers.amazon
        except ModuleNotFoundError as exc:
            print(exc)
        try:
            from airflow.operators.bash import NoSuchOperator
        except ImportError as exc:
            airflow_namespace.annotate_import_error(exc)
            print(exc, exc.__notes__)
        from airflow.datasets import Dataset
        print(Dataset("S3://B/k/?b=2&a=1#f").uri)
        """
    )
    lines = out.strip().splitlines()
    assert lines[0] == "No module named 'airflow.providers': Slipstream does not support this Airflow module"
    assert "cannot import name 'NoSuchOperator' from 'airflow.operators.bash'" in lines[1]
    assert "does not provide this" in lines[1]
    assert lines[2] == "s3://B/k?a=1&b=2"

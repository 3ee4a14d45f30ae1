"""Apache Airflow's own example DAGs, fetched at test time and never committed.

`pip download --no-deps apache-airflow==<version>` into a cache outside the checkout (reused when
present), then only `airflow/example_dags/` is unpacked from the wheel. The conformance test copies
chosen files from there, unchanged, into a temporary DAGs folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

AIRFLOW_VERSION = "2.10.5"
EXAMPLES_IN_WHEEL = "airflow/example_dags/"
DOWNLOAD_TIMEOUT = 300


class ExamplesUnavailable(RuntimeError):
    """The wheel could not be downloaded or read (no network, no index): the test is skipped."""


def cache_dir(version: str = AIRFLOW_VERSION) -> Path:
    """`$SLIPSTREAM_AIRFLOW_CACHE`, else `~/.cache/slipstream/airflow-<version>` (XDG_CACHE_HOME honoured)."""
    explicit = os.environ.get("SLIPSTREAM_AIRFLOW_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "slipstream" / f"airflow-{version}"


def _find_wheel(cache: Path, version: str) -> Path | None:
    wheels = sorted(cache.glob(f"apache_airflow-{version}-*.whl"))
    return wheels[0] if wheels else None


def _download_wheel(cache: Path, version: str) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check"]
    command += ["--dest", str(cache), f"apache-airflow=={version}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExamplesUnavailable(f"pip download apache-airflow=={version} did not finish: {exc}") from exc
    wheel = _find_wheel(cache, version)
    if wheel is None:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise ExamplesUnavailable(f"pip download apache-airflow=={version} failed (exit {done.returncode}): {tail}")
    return wheel


def example_dags_folder(version: str = AIRFLOW_VERSION) -> Path:
    """The unpacked `airflow/example_dags` folder of apache-airflow==version's wheel."""
    cache = cache_dir(version)
    folder = cache / EXAMPLES_IN_WHEEL
    if (folder / "__init__.py").is_file():
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    wheel = _find_wheel(cache, version) or _download_wheel(cache, version)
    # Unpack beside the cache, then move into place: a half-unpacked folder is never mistaken for a whole one.
    with tempfile.TemporaryDirectory(dir=cache) as staging:
        try:
            with zipfile.ZipFile(wheel) as archive:
                members = [name for name in archive.namelist() if name.startswith(EXAMPLES_IN_WHEEL)]
                archive.extractall(staging, members)
        except zipfile.BadZipFile as exc:
            wheel.unlink(missing_ok=True)  # a truncated download: fetch again next time
            raise ExamplesUnavailable(f"{wheel.name} is not a readable wheel: {exc}") from exc
        if not members:
            raise ExamplesUnavailable(f"{wheel.name} holds no {EXAMPLES_IN_WHEEL}")
        folder.parent.mkdir(parents=True, exist_ok=True)
        if not (folder / "__init__.py").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(Path(staging) / EXAMPLES_IN_WHEEL, folder)
    return folder

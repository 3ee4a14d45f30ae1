"""Task logs: one file per try at <logs_folder>/<dag_id>/<run_id>/<task_id>/<try_number>.log."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path


def log_path(logs_folder: Path, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> Path:
    """A mapped instance's tries go one level down, under map_index=<n>/ (as Airflow's do)."""
    folder = Path(logs_folder) / dag_id / run_id / task_id
    if map_index is not None and map_index >= 0:
        folder = folder / f"map_index={map_index}"
    return folder / f"{try_number}.log"


def log_line(message: str, level: str = "INFO") -> str:
    """Airflow's shape: `[2024-01-01T00:00:00.000+0000] {slipstream} INFO - message`."""
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"
    return f"[{stamp}] {{slipstream}} {level} - {message}\n"


def append_to_log(path: Path, message: str, level: str = "INFO") -> None:
    """Append a line from outside the task process (the scheduler noting a zombie, for instance)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(log_line(message, level))
    except OSError:
        pass


def list_tries(logs_folder: Path, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[int]:
    folder = log_path(logs_folder, dag_id, run_id, task_id, 0, map_index).parent
    if not folder.is_dir():
        return []
    tries = []
    for name in os.listdir(folder):
        stem, _, ext = name.partition(".")
        if ext == "log" and stem.isdigit():
            tries.append(int(stem))
    return sorted(tries)

"""The fork server's DAG-file cache: reused while nothing changed, re-imported when the file or a helper
module beside it changes."""

from __future__ import annotations

import os
import sys
import textwrap

from slipstream.scheduler.dag_files import DagFileCache, add_to_sys_path, find_dag
from slipstream.scheduler.write_lock import lock_path_for

DAG_FILE = """
from datetime import UTC, datetime

from slipstream.sdk import DAG, BashOperator
from {helper} import COMMAND

with DAG("cached", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
    BashOperator(task_id="t", bash_command=COMMAND)
"""


def bump(path, text: str) -> None:
    stat = path.stat() if path.exists() else None
    path.write_text(text)
    if stat is not None:  # make sure the change shows even within one mtime tick
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_cached_import_is_reused_until_a_file_changes(tmp_path):
    helper = f"helper_{os.getpid()}"
    (tmp_path / f"{helper}.py").write_text('COMMAND = "echo one"\n')
    dag_file = tmp_path / "cached.py"
    dag_file.write_text(textwrap.dedent(DAG_FILE.format(helper=helper)))
    add_to_sys_path(tmp_path)
    try:
        cache = DagFileCache()
        first = cache.load(str(dag_file))
        assert cache.load(str(dag_file)) is first
        assert cache.get(str(dag_file)) is first
        assert find_dag(first, "cached", str(dag_file)).get_task("t").bash_command == "echo one"

        bump(tmp_path / f"{helper}.py", 'COMMAND = "echo two"\n')
        assert cache.get(str(dag_file)) is None
        second = cache.load(str(dag_file))
        assert find_dag(second, "cached", str(dag_file)).get_task("t").bash_command == "echo two"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(helper, None)


def test_write_lock_only_for_sqlite_files(tmp_path):
    assert lock_path_for(f"sqlite:///{tmp_path}/x.db") == f"{tmp_path}/x.db.write-lock"
    assert lock_path_for("sqlite://") is None
    assert lock_path_for("postgresql://u@h/db") is None

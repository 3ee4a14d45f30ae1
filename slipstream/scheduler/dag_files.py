"""Importing a DAG file where a task runs, and keeping it imported in the fork server.

Only task processes (and the fork server they are forked from) import DAG files here; the
scheduler and the API never do. The fork server imports a file once and its children inherit the
module, so a task does not pay for re-importing (and rebuilding) its DAG. A cached import is
dropped when the file, or a module it imported from outside the Python installation, changes.
"""

from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
import types
from dataclasses import dataclass, field
from pathlib import Path

from slipstream import airflow_namespace
from slipstream.sdk.dag import DAG, DagContext

_SLIPSTREAM_DIR = str(Path(__file__).resolve().parent.parent)
# Modules under these never change while we run (the stdlib, site-packages, Slipstream itself).
_STABLE_PREFIXES = tuple(
    {
        *(p for p in (sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")) if p),
        sys.prefix,
        sys.base_prefix,
        _SLIPSTREAM_DIR,
    }
)


def module_name_for(path: str) -> str:
    digest = hashlib.sha1(path.encode()).hexdigest()[:16]
    return f"slipstream_task_dag_{digest}"


def add_to_sys_path(folder: str | os.PathLike[str] | None) -> None:
    """DAG files import helper modules kept beside them, as with Airflow's DAGs folder on sys.path."""
    if folder is None:
        return
    folder = os.fspath(folder)
    if os.path.isdir(folder) and folder not in sys.path:
        sys.path.insert(0, folder)


def import_dag_file(path: str) -> tuple[types.ModuleType, list[DAG]]:
    """Execute a DAG file as a fresh module; returns it and every DAG it opened or defined."""
    entered: list[DAG] = []
    original_push = DagContext.push

    def recording_push(dag: DAG) -> None:
        entered.append(dag)
        original_push(dag)

    airflow_namespace.install()
    name = module_name_for(path)
    module = types.ModuleType(name)
    module.__file__ = path
    sys.modules[name] = module
    DagContext.push = staticmethod(recording_push)  # type: ignore[method-assign]
    try:
        with open(path, "rb") as handle:
            code = compile(handle.read(), path, "exec", dont_inherit=True)
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        DagContext.push = staticmethod(original_push)  # type: ignore[method-assign]
    dags = [v for v in module.__dict__.values() if isinstance(v, DAG)]
    # auto_register=False: only a DAG the module keeps in a global counts (Airflow's rule).
    dags += [d for d in entered if getattr(d, "auto_register", True) and all(d is not seen for seen in dags)]
    return module, dags


def find_dag(dags: list[DAG], dag_id: str, path: str) -> DAG:
    for dag in dags:
        if dag.dag_id == dag_id:
            return dag
    raise LookupError(f"DAG {dag_id!r} not found in {path}")


def _stat_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


@dataclass
class _Entry:
    dags: list[DAG]
    module_names: list[str]
    # Every file the import depends on (the DAG file and user modules it imported), with its stat key.
    files: dict[str, tuple[int, int] | None] = field(default_factory=dict)

    def is_fresh(self) -> bool:
        return all(_stat_key(path) == key for path, key in self.files.items())


class DagFileCache:
    """path -> the DAGs its import produced, valid while none of the files involved changed."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def load(self, path: str) -> list[DAG]:
        """Import `path` (or reuse the cached import); raises whatever the file raises."""
        entry = self._entries.get(path)
        if entry is not None and entry.is_fresh():
            return entry.dags
        if entry is not None:
            self._drop(path)
        before = set(sys.modules)
        stat = _stat_key(path)
        module, dags = import_dag_file(path)
        added = [name for name in set(sys.modules) - before if name != module.__name__]
        files: dict[str, tuple[int, int] | None] = {path: stat}
        user_modules = [module.__name__]
        for name in added:
            origin = getattr(sys.modules.get(name), "__file__", None)
            if origin and not os.path.abspath(origin).startswith(_STABLE_PREFIXES):
                files[origin] = _stat_key(origin)
                user_modules.append(name)
        self._entries[path] = _Entry(dags=dags, module_names=user_modules, files=files)
        return dags

    def get(self, path: str) -> list[DAG] | None:
        """The cached DAGs of `path` if the cache holds a fresh import of it, else None."""
        entry = self._entries.get(path)
        return entry.dags if entry is not None and entry.is_fresh() else None

    def _drop(self, path: str) -> None:
        entry = self._entries.pop(path, None)
        if entry is not None:
            for name in entry.module_names:
                sys.modules.pop(name, None)

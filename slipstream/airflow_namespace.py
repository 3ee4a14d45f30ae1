"""The `airflow` import namespace for DAG files, resolved to Slipstream's task model.

Installed only in processes that import DAG files (the dag processor's parse child, the fork
servers that run tasks, Celery workers): `import airflow.operators.bash` there returns the module
`slipstream/airflow_compat/operators/bash.py`. Nothing named `airflow` is installed on sys.path, so a
real apache-airflow in the same environment stays what every other program imports; inside a
DAG-importing process Slipstream's namespace wins, and `describe()` says so.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

ROOT = "airflow"
UNSUPPORTED_NOTE = "Slipstream's airflow namespace does not provide this; see 'What is not supported' in the README."


COMPAT_DIR = Path(__file__).resolve().parent / "airflow_compat"


def _source_of(fullname: str) -> tuple[Path, bool] | None:
    """The compat source file for `airflow.a.b` and whether it is a package, or None."""
    parts = fullname.split(".")[1:]
    base = COMPAT_DIR.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py", True
    module = base.with_suffix(".py") if parts else None
    if module is not None and module.is_file():
        return module, False
    return None


class AirflowNamespaceFinder(importlib.abc.MetaPathFinder):
    """Loads `slipstream/airflow_compat/<path>.py` as the module `airflow.<path>`.

    The modules carry their Airflow names, so Python's own errors read as in Airflow
    ("cannot import name 'X' from 'airflow.operators.bash'"); they only re-export Slipstream's
    task model, so every class keeps one identity whichever name imported it."""

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname != ROOT and not fullname.startswith(ROOT + "."):
            return None
        found = _source_of(fullname)
        if found is None:
            raise ModuleNotFoundError(
                f"No module named '{fullname}': Slipstream does not support this Airflow module", name=fullname
            )
        source, is_package = found
        return importlib.util.spec_from_file_location(
            fullname, source, submodule_search_locations=[str(source.parent)] if is_package else None
        )


_FINDER = AirflowNamespaceFinder()


def install() -> None:
    """Put the finder first on sys.meta_path (idempotent), ahead of any installed apache-airflow."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    # Plugin modules (custom timetables) import by name from DAG files, as in Airflow.
    from slipstream import plugins

    plugins.add_to_sys_path()
    # A real airflow imported earlier in this process would otherwise keep answering.
    for name in [n for n in sys.modules if n == ROOT or n.startswith(ROOT + ".")]:
        origin = getattr(sys.modules[name], "__file__", None) or ""
        if not origin.startswith(str(COMPAT_DIR)):
            del sys.modules[name]


def real_airflow_location() -> str | None:
    """Where an installed apache-airflow lives, if one does (found without our finder)."""
    for finder in sys.meta_path:
        if finder is _FINDER:
            continue
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            spec = find(ROOT, None)
        except Exception:
            continue
        if spec is not None and spec.origin:
            return spec.origin
    return None


def describe() -> str:
    """One line for logs and `slipstream version`: which `airflow` DAG files get."""
    real = real_airflow_location()
    if real is None:
        return "DAG files importing `airflow` get Slipstream's task model (apache-airflow is not installed)."
    return (
        "DAG files importing `airflow` get Slipstream's task model; the apache-airflow installed at "
        f"{real} is not used by DAG files (other programs still import it)."
    )


def annotate_import_error(exc: BaseException) -> None:
    """Add a note to an ImportError of an `airflow...` name that the namespace does not provide."""
    if not isinstance(exc, ImportError):
        return
    name = getattr(exc, "name", None) or ""
    if (name == ROOT or name.startswith(ROOT + ".")) and UNSUPPORTED_NOTE not in str(exc):
        notes = getattr(exc, "__notes__", [])
        if UNSUPPORTED_NOTE not in notes:
            exc.add_note(UNSUPPORTED_NOTE)

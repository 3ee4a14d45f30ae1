"""The plugins Slipstream loads (slipstream/plugins.py), described as Airflow's GET /api/v1/plugins does.

Slipstream's own plugin (the workday timetable of Airflow's examples) is described in this process. The
files of the plugins folder are user code, which the API never imports itself: a child interpreter
imports them (as the dag processor imports DAG files), with a timeout, and prints what it found. The
answer is kept until a file of the folder changes.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import logging
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_ROOT = str(Path(__file__).resolve().parents[2])
_LIST_FIELDS = (
    "appbuilder_menu_items",
    "appbuilder_views",
    "executors",
    "flask_blueprints",
    "global_operator_extra_links",
    "hooks",
    "listeners",
    "macros",
    "operator_extra_links",
    "ti_deps",
    "timetables",
)
_cache_lock = threading.Lock()
_cache: dict[str, tuple[tuple, list[dict[str, Any]]]] = {}


def _qualname(value: Any) -> str:
    if inspect.ismodule(value):
        return value.__name__
    if callable(value) and hasattr(value, "__module__") and hasattr(value, "__qualname__"):
        return f"{value.__module__}.{value.__qualname__}"  # a class or a function
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def _describe_item(field: str, item: Any) -> Any:
    if field in ("global_operator_extra_links", "operator_extra_links"):
        return f"<{_qualname(item)} object>"
    if field == "appbuilder_menu_items" and isinstance(item, dict):
        return {str(k): v if isinstance(v, (str, int, float, bool)) or v is None else str(v) for k, v in item.items()}
    if field == "appbuilder_views" and isinstance(item, dict):
        described = {
            str(k): v if isinstance(v, (str, int, float, bool)) or v is None else str(v) for k, v in item.items()
        }
        described["view"] = _qualname(item["view"]) if "view" in item else None
        return described
    if field == "flask_blueprints":
        name, import_name = getattr(item, "name", None), getattr(item, "import_name", None)
        return f"<{_qualname(item)}: name={name!r} import_name={import_name!r}>"
    if isinstance(item, str):
        return item
    return _qualname(item)


def describe_plugin(plugin: type, source: str) -> dict[str, Any]:
    """Airflow's PluginCollectionItem for one AirflowPlugin subclass."""
    info: dict[str, Any] = {"name": plugin.name or plugin.__name__, "source": source}
    for field in _LIST_FIELDS:
        items = getattr(plugin, field, None) or []
        info[field] = [_describe_item(field, item) for item in items]
    return info


def _plugins_in(module: Any) -> list[type]:
    from slipstream.sdk.plugins import AirflowPlugin

    found = []
    for value in list(vars(module).values()):
        if isinstance(value, type) and issubclass(value, AirflowPlugin) and value is not AirflowPlugin:
            if value.__module__ == module.__name__:  # not one imported from another plugin file
                found.append(value)
    return found


def builtin_plugins() -> list[dict[str, Any]]:
    from slipstream import plugins

    described = []
    for name in plugins._BUILTIN_PLUGIN_MODULES:
        module = importlib.import_module(name)
        described += [describe_plugin(p, f"{name} (built into Slipstream)") for p in _plugins_in(module)]
    return described


def _folder_signature(folder: Path) -> tuple:
    if not folder.is_dir():
        return ()
    return tuple(
        (p.name, p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(folder.glob("*.py"))
        if not p.name.startswith("_")
    )


def folder_plugins(folder: Path, timeout: float) -> list[dict[str, Any]]:
    """The plugins the folder's files define, imported in a child interpreter; [] when there are none.
    A file that fails to import is left out (and logged), as Airflow leaves out a broken plugin. One child
    at a time per process, and its answer (a failure too: a file that hangs would otherwise cost every
    request the timeout and a process) is kept until a file of the folder changes."""
    signature = _folder_signature(folder)
    if not signature:
        return []
    key = str(folder)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == signature:
            return cached[1]
        described = _import_in_child(folder, timeout)
        _cache[key] = (signature, described)
        return described


def _import_in_child(folder: Path, timeout: float) -> list[dict[str, Any]]:
    try:
        done = subprocess.run(
            [sys.executable, "-P", __file__, str(folder), _ROOT],
            capture_output=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        described = json.loads(done.stdout) if done.returncode == 0 else None
    except (subprocess.TimeoutExpired, OSError, json.JSONDecodeError) as exc:
        logger.warning("Could not list the plugins of %s: %s", folder, exc)
        return []
    if not isinstance(described, list):
        logger.warning("Listing the plugins of %s failed:\n%s", folder, done.stderr.decode(errors="replace")[-2000:])
        return []
    return described


def list_plugins(folder: Path, timeout: float) -> list[dict[str, Any]]:
    return builtin_plugins() + folder_plugins(folder, timeout)


def _main(folder: str, root: str) -> None:
    """In the child: import each plugin file of `folder` and print the plugins as JSON."""
    if root not in sys.path:
        sys.path.append(root)
    sys.path.insert(0, folder)
    from slipstream import airflow_namespace, plugins

    airflow_namespace.install()
    described = []
    for name in plugins._plugin_modules(Path(folder)):
        try:
            with contextlib.redirect_stdout(sys.stderr):  # stdout carries the answer
                module = importlib.import_module(name)
        except Exception:
            logger.exception("Failed to import plugin %s", Path(folder) / f"{name}.py")
            continue
        source = f"$PLUGINS_FOLDER/{name}.py"
        described += [describe_plugin(p, source) for p in _plugins_in(module)]
    sys.stdout.write(json.dumps(described))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    _main(sys.argv[1], sys.argv[2])

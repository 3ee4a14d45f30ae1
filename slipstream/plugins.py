"""Plugins: Python files in the plugins folder, found the way Airflow finds them, so a custom
`Timetable` can be registered (`AirflowPlugin.timetables`) and used by DAGs and the scheduler.

Where: `SLIPSTREAM_PLUGINS_FOLDER`, else a `plugins` folder beside the DAGs folder
(`SLIPSTREAM_DAGS_FOLDER`'s parent, else `$SLIPSTREAM_HOME/plugins`). The folder is put on sys.path of
every process that imports DAG files, so a DAG file imports a plugin module by its name
(`from workday import AfterWorkdayTimetable`). A timetable is known by `module.QualName`; one that no
plugin registers is an import error with Airflow's message. The scheduler imports the plugin files
(user code, as in Airflow) only when a DAG uses a custom timetable.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Plugins Slipstream ships: Airflow's example plugin (its workday timetable) is always loaded there too.
_BUILTIN_PLUGIN_MODULES = ("slipstream.sdk.workday",)
_registry: dict[str, type] | None = None
_loaded_from: Path | None = None


def plugins_folder() -> Path:
    explicit = os.environ.get("SLIPSTREAM_PLUGINS_FOLDER")
    if explicit:
        return Path(explicit).expanduser().resolve()
    dags = os.environ.get("SLIPSTREAM_DAGS_FOLDER")
    if dags:
        return Path(dags).expanduser().resolve().parent / "plugins"
    from slipstream.config import default_home

    return default_home() / "plugins"


def add_to_sys_path() -> None:
    folder = str(plugins_folder())
    if os.path.isdir(folder) and folder not in sys.path:
        sys.path.append(folder)


def _plugin_modules(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))


def timetable_registry() -> dict[str, type]:
    """`module.QualName` -> class, for every timetable a plugin in the plugins folder registers."""
    global _registry, _loaded_from
    folder = plugins_folder()
    if _registry is not None and _loaded_from == folder:
        return _registry
    registry: dict[str, type] = {}
    for name in _BUILTIN_PLUGIN_MODULES:
        _register(importlib.import_module(name), registry)
    if folder.is_dir():
        from slipstream import airflow_namespace

        airflow_namespace.install()  # plugin files import from `airflow` as DAG files do
        for name in _plugin_modules(folder):
            try:
                module = importlib.import_module(name)
            except Exception:
                logger.exception("Failed to import plugin %s", folder / f"{name}.py")
                continue
            _register(module, registry)
    _registry, _loaded_from = registry, folder
    return registry


def _register(module: Any, registry: dict[str, type]) -> None:
    from slipstream.sdk.plugins import AirflowPlugin

    for value in list(vars(module).values()):
        if isinstance(value, type) and issubclass(value, AirflowPlugin) and value is not AirflowPlugin:
            for timetable in getattr(value, "timetables", None) or ():
                registry[importable_path(timetable)] = timetable


def importable_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def registered_timetable_path(cls: type) -> str:
    path = importable_path(cls)
    if path not in timetable_registry():
        raise ValueError(
            f"Timetable class '{path}' is not registered or you have a top level database access that "
            "disrupted the session. Please check the airflow best practices documentation."
        )
    return path


_RELOAD_INTERVAL = 30.0
_last_reload = 0.0


def _timetable(schedule: dict[str, Any]) -> Any:
    global _registry, _last_reload
    cls = timetable_registry().get(schedule["class"])
    if cls is None and time.monotonic() - _last_reload >= _RELOAD_INTERVAL:
        # A plugin added (or fixed) since the registry was read: look again, at most every 30 s.
        _last_reload = time.monotonic()
        _registry = None
        for name in _plugin_modules(plugins_folder()):
            sys.modules.pop(name, None)
        cls = timetable_registry().get(schedule["class"])
    if cls is None:
        raise LookupError(f"Timetable class '{schedule['class']}' is not registered by any plugin")
    return cls.deserialize(schedule.get("data") or {})


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _pendulum_utc(value: datetime) -> Any:
    """A pendulum DateTime in pendulum's UTC zone: with datetime.timezone.utc, pendulum arithmetic
    drops the zone (and pendulum.instance keeps a DateTime's zone as it is)."""
    import pendulum

    u = _utc(value)
    return pendulum.datetime(u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond, tz="UTC")


def custom_manual_data_interval(schedule: dict[str, Any], run_after: datetime) -> tuple[datetime, datetime]:

    interval = _timetable(schedule).infer_manual_data_interval(run_after=_pendulum_utc(run_after))
    return _utc(interval.start), _utc(interval.end)


def custom_next_dagrun_info(
    schedule: dict[str, Any],
    *,
    earliest: datetime | None,
    latest: datetime | None,
    catchup: bool,
    last_automated: tuple[datetime, datetime] | None,
) -> Any:
    """The custom timetable's next run, as slipstream.timetables.DagRunInfo; None when it has none or
    fails (logged: a broken plugin stops its DAG's schedule, not the scheduler)."""

    from slipstream.sdk.timetables import DataInterval, TimeRestriction
    from slipstream.timetables import DagRunInfo

    def pend(value: datetime | None) -> Any:
        return None if value is None else _pendulum_utc(value)

    last = DataInterval(pend(last_automated[0]), pend(last_automated[1])) if last_automated else None
    try:
        info = _timetable(schedule).next_dagrun_info(
            last_automated_data_interval=last,
            restriction=TimeRestriction(pend(earliest), pend(latest), catchup),
        )
    except Exception:
        logger.exception("Timetable %s failed to give the next run", schedule.get("class"))
        return None
    if info is None:
        return None
    start, end = _utc(info.data_interval.start), _utc(info.data_interval.end)
    return DagRunInfo(start, start, end, _utc(info.run_after))

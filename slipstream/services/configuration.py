"""Slipstream's settings in Airflow's configuration shape (sections of options), for GET /api/v1/config.

A setting Airflow has lives under Airflow's section and option name (`[core] parallelism`); the others are
in a `[slipstream]` section under their own names. Every value is text, as airflow.cfg holds it. What
may hold a secret (the Fernet key, the database URL, the Celery broker URL) is "< hidden >" unless
everything is exposed (SLIPSTREAM_EXPOSE_CONFIG=true), and always when a single option is asked for.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from slipstream.config import Settings

HIDDEN = "< hidden >"
EXPOSE_ALL = "true"
EXPOSE_NON_SENSITIVE = "non-sensitive-only"

# (section, option, Settings field): in the order they are listed.
_AIRFLOW_NAMES: tuple[tuple[str, str, str], ...] = (
    ("core", "dags_folder", "dags_folder"),
    ("core", "executor", "executor"),
    ("core", "parallelism", "parallelism"),
    ("core", "dags_are_paused_at_creation", "dags_are_paused_at_creation"),
    ("core", "load_examples", "load_examples"),
    ("core", "fernet_key", "fernet_key"),
    ("core", "dag_file_processor_timeout", "dag_file_processor_timeout"),
    ("core", "dag_run_conf_overrides_params", "dag_run_conf_overrides_params"),
    ("core", "sensitive_var_conn_names", "sensitive_var_conn_names"),
    ("core", "max_map_length", "max_map_length"),
    ("core", "default_pool_task_slot_count", "default_pool_slots"),
    ("core", "test_connection", "test_connection"),
    ("database", "sql_alchemy_conn", "database_url"),
    ("webserver", "web_server_host", "host"),
    ("webserver", "web_server_port", "port"),
    ("webserver", "workers", "workers"),
    ("webserver", "expose_config", "expose_config"),
    ("api", "auth_backends", "auth_backend"),
    ("api", "enable_xcom_deserialize_support", "enable_xcom_deserialize_support"),
    ("scheduler", "scheduler_heartbeat_sec", "scheduler_heartbeat_interval"),
    ("scheduler", "scheduler_health_check_threshold", "scheduler_health_check_threshold"),
    ("scheduler", "dag_dir_list_interval", "dag_dir_list_interval"),
    ("scheduler", "max_tis_per_query", "max_tis_per_query"),
    ("scheduler", "task_queued_timeout", "task_queued_timeout"),
    ("scheduler", "scheduler_zombie_task_threshold", "zombie_threshold"),
    ("scheduler", "zombie_detection_interval", "zombie_check_interval"),
    ("celery", "broker_url", "celery_broker_url"),
)
# Fixed values of the stable API that Airflow configures (handlers/v1/_pagination.py).
_FIXED: tuple[tuple[str, str, str], ...] = (
    ("api", "maximum_page_limit", "100"),
    ("api", "fallback_page_limit", "100"),
    ("api", "enable_experimental_api", "True"),
)
SENSITIVE_FIELDS = frozenset({"fernet_key", "database_url", "celery_broker_url"})


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    return "" if value is None else str(value)


def _options(settings: Settings) -> list[tuple[str, str, str, bool]]:
    """(section, option, value, sensitive) for every setting."""
    listed: list[tuple[str, str, str, bool]] = []
    named = set()
    for section, option, name in _AIRFLOW_NAMES:
        named.add(name)
        listed.append((section, option, _text(getattr(settings, name)), name in SENSITIVE_FIELDS))
        if (section, option) == ("api", "auth_backends"):
            listed.extend((s, o, v, False) for s, o, v in _FIXED)
    for field in dataclasses.fields(settings):
        if field.name not in named:
            value = getattr(settings, field.name)
            listed.append(("slipstream", field.name, _text(value), field.name in SENSITIVE_FIELDS))
    return listed


def config_sections(settings: Settings, *, display_sensitive: bool, section: str | None = None) -> list[dict[str, Any]]:
    """`[{"name": section, "options": [{"key", "value"}]}]`, sections in first-seen order."""
    sections: dict[str, list[dict[str, str]]] = {}
    for name, option, value, sensitive in _options(settings):
        if section is not None and name != section:
            continue
        shown = HIDDEN if sensitive and not display_sensitive else value
        sections.setdefault(name, []).append({"key": option, "value": shown})
    return [{"name": name, "options": options} for name, options in sections.items()]


def has_section(settings: Settings, section: str) -> bool:
    return any(name == section for name, _, _, _ in _options(settings))


def option_value(settings: Settings, section: str, option: str) -> str | None:
    """One option's value ("< hidden >" for a secret, always); None if there is no such option."""
    for name, key, value, sensitive in _options(settings):
        if (name, key) == (section.lower(), option.lower()) or (name, key) == (section, option):
            return HIDDEN if sensitive else value
    return None


def config_as_text(sections: list[dict[str, Any]]) -> str:
    """airflow.cfg's form: `[section]` then `key = value` lines, sections separated by a blank line."""
    return "\n".join(
        f"[{section['name']}]\n" + "".join(f"{o['key']} = {o['value']}\n" for o in section["options"])
        for section in sections
    )

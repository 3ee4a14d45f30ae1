"""`conf` for DAG files (`from airflow.configuration import conf`), answered from Slipstream's Settings.

Airflow's lookup order is kept where it matters to DAG files: an `AIRFLOW__{SECTION}__{KEY}` environment
variable first, then the value Slipstream runs with. Values are strings, as Airflow's are. Keys that
Slipstream has no answer for raise AirflowConfigException like an unknown key in Airflow, unless a
fallback is given. Secrets (database and broker URLs) are deliberately not offered.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from slipstream.config import Settings
from slipstream.sdk.exceptions import AirflowConfigException

_UNSET: Any = object()
_EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}


def _flag(value: bool) -> str:
    return "True" if value else "False"


# (section, key) -> how to read it from Settings; constants are Airflow's defaults that Slipstream follows.
_KEYS: dict[tuple[str, str], Callable[[Settings], str]] = {
    ("core", "dags_folder"): lambda s: str(s.dags_folder),
    ("core", "load_examples"): lambda s: _flag(s.load_examples),
    ("core", "dags_are_paused_at_creation"): lambda s: _flag(s.dags_are_paused_at_creation),
    ("core", "executor"): lambda s: _EXECUTORS.get(s.executor, s.executor),
    ("core", "parallelism"): lambda s: str(s.parallelism),
    ("core", "dagbag_import_timeout"): lambda s: f"{s.dag_file_processor_timeout:g}",
    ("core", "dag_file_processor_timeout"): lambda s: f"{s.dag_file_processor_timeout:g}",
    ("core", "default_timezone"): lambda s: "utc",
    ("core", "max_active_tasks_per_dag"): lambda s: "16",
    ("core", "max_active_runs_per_dag"): lambda s: "16",
    ("core", "max_consecutive_failed_dag_runs_per_dag"): lambda s: "0",
    ("core", "default_task_retries"): lambda s: "0",
    ("core", "default_task_retry_delay"): lambda s: "300",
    ("core", "default_task_weight_rule"): lambda s: "downstream",
    ("core", "dag_run_conf_overrides_params"): lambda s: "True",
    ("core", "enable_xcom_pickling"): lambda s: "False",
    ("core", "max_map_length"): lambda s: "1024",
    ("core", "allowed_deserialization_classes"): lambda s: "airflow.*",
    ("core", "unit_test_mode"): lambda s: "False",
    ("core", "default_pool_task_slot_count"): lambda s: str(s.default_pool_slots),
    ("scheduler", "catchup_by_default"): lambda s: "True",
    ("scheduler", "create_cron_data_intervals"): lambda s: "True",
    ("scheduler", "dag_dir_list_interval"): lambda s: f"{s.dag_dir_list_interval:g}",
    ("scheduler", "max_tis_per_query"): lambda s: str(s.max_tis_per_query),
    ("scheduler", "scheduler_health_check_threshold"): lambda s: f"{s.scheduler_health_check_threshold:g}",
    ("scheduler", "task_queued_timeout"): lambda s: f"{s.task_queued_timeout:g}",
    ("operators", "default_owner"): lambda s: "airflow",
    ("operators", "default_queue"): lambda s: "default",
    ("operators", "allow_illegal_arguments"): lambda s: "False",
    ("email", "default_email_on_retry"): lambda s: "True",
    ("email", "default_email_on_failure"): lambda s: "True",
    ("webserver", "base_url"): lambda s: f"http://{s.host}:{s.port}",
    ("webserver", "dag_default_view"): lambda s: "grid",
    ("webserver", "dag_orientation"): lambda s: "LR",
    ("logging", "base_log_folder"): lambda s: str(s.logs_folder),
    ("api", "auth_backends"): lambda s: s.auth_backend,
    ("triggerer", "default_capacity"): lambda s: "1000",
}


def _env_name(section: str, key: str) -> str:
    return f"AIRFLOW__{section.upper()}__{key.upper()}"


class SlipstreamConf:
    """The subset of Airflow's AirflowConfigParser that DAG files call."""

    def __init__(self, settings: Settings | None = None):
        self._settings = settings

    @functools.cached_property
    def settings(self) -> Settings:
        return self._settings or Settings.from_env()

    def _lookup(self, section: str, key: str) -> str | None:
        section, key = section.lower(), key.lower()
        from_env = os.environ.get(_env_name(section, key))
        if from_env is not None:
            return from_env
        reader = _KEYS.get((section, key))
        return reader(self.settings) if reader is not None else None

    def get(self, section: str, key: str, fallback: Any = _UNSET, **_: Any) -> Any:
        value = self._lookup(section, key)
        if value is not None:
            return value
        if fallback is not _UNSET:
            return fallback
        raise AirflowConfigException(f"section/key [{section}/{key}] not found in config")

    def getboolean(self, section: str, key: str, **kwargs: Any) -> bool:
        value = self.get(section, key, **kwargs)
        if isinstance(value, bool):
            return value
        text = str(value).split("#")[0].strip().lower()
        if text in ("t", "true", "1"):
            return True
        if text in ("f", "false", "0"):
            return False
        raise AirflowConfigException(
            f'Failed to convert value to bool. Please check "{key}" key in "{section}" section. '
            f'Current value: "{text}".'
        )

    def _number(self, kind: type, section: str, key: str, **kwargs: Any) -> Any:
        value = self.get(section, key, **kwargs)
        if value is None:
            raise AirflowConfigException(
                f"Failed to convert value None to {kind.__name__}. "
                f'Please check "{key}" key in "{section}" section is set.'
            )
        try:
            return kind(value)
        except ValueError:
            raise AirflowConfigException(
                f'Failed to convert value to {kind.__name__}. Please check "{key}" key in "{section}" section. '
                f'Current value: "{value}".'
            ) from None

    def getint(self, section: str, key: str, **kwargs: Any) -> int:
        return self._number(int, section, key, **kwargs)

    def getfloat(self, section: str, key: str, **kwargs: Any) -> float:
        return self._number(float, section, key, **kwargs)

    def getlist(self, section: str, key: str, delimiter: str = ",", **kwargs: Any) -> list[str]:
        value = self.get(section, key, **kwargs)
        return [item.strip() for item in str(value).split(delimiter)] if value is not None else []

    def has_option(self, section: str, option: str) -> bool:
        return self._lookup(section, option) is not None

    def has_section(self, section: str) -> bool:
        return any(known == section.lower() for known, _ in _KEYS)

    def getsection(self, section: str) -> dict[str, str] | None:
        keys = [key for known, key in _KEYS if known == section.lower()]
        return {key: self._lookup(section, key) or "" for key in keys} or None


conf = SlipstreamConf()

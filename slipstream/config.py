"""Settings from SLIPSTREAM_* environment variables, typed and documented in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

_TRUE_WORDS = {"1", "true", "t", "yes", "y", "on"}


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in _TRUE_WORDS


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def default_home() -> Path:
    return Path(os.environ.get("SLIPSTREAM_HOME") or Path.home() / "slipstream").expanduser().resolve()


@dataclass(frozen=True)
class Settings:
    """Everything configurable. `Settings.from_env()` reads the environment; tests build their own."""

    home: Path = field(default_factory=default_home)
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    dags_folder: Path | None = None
    load_examples: bool = True
    dags_are_paused_at_creation: bool = False
    default_pool_slots: int = 128
    # Engine
    executor: str = "local"
    parallelism: int = 32
    scheduler_loop_interval: float = 0.05
    dag_dir_list_interval: float = 30.0
    dag_file_processor_timeout: float = 50.0
    task_heartbeat_interval: float = 1.0
    zombie_threshold: float = 30.0
    zombie_check_interval: float = 10.0
    scheduler_heartbeat_interval: float = 2.0
    scheduler_health_check_threshold: float = 30.0
    scheduler_shutdown_grace: float = 10.0
    max_tis_per_query: int = 64
    executor_dag_cache: bool = True
    celery_broker_url: str = "redis://127.0.0.1:6379/0"
    # Celery executor: a try still `queued` this long is sent again once, then failed (Airflow: 600 s).
    task_queued_timeout: float = 600.0
    # Security
    auth_backend: str = "basic_auth"
    allow_open_access: bool = False
    max_body_bytes: int = 1024 * 1024
    # API workers
    workers: int = 1

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.home / 'slipstream.db'}")
        if self.dags_folder is None:
            object.__setattr__(self, "dags_folder", self.home / "dags")

    @property
    def logs_folder(self) -> Path:
        return self.home / "logs"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls) -> Settings:
        home = default_home()
        dags_folder = os.environ.get("SLIPSTREAM_DAGS_FOLDER")
        return cls(
            home=home,
            database_url=os.environ.get("SLIPSTREAM_DATABASE_URL", ""),
            host=os.environ.get("SLIPSTREAM_HOST", "127.0.0.1"),
            port=_env_int("SLIPSTREAM_PORT", 8080),
            dags_folder=Path(dags_folder).expanduser().resolve() if dags_folder else None,
            load_examples=_env_bool("SLIPSTREAM_LOAD_EXAMPLES", True),
            dags_are_paused_at_creation=_env_bool("SLIPSTREAM_DAGS_ARE_PAUSED_AT_CREATION", False),
            default_pool_slots=_env_int("SLIPSTREAM_DEFAULT_POOL_SLOTS", 128),
            executor=os.environ.get("SLIPSTREAM_EXECUTOR", "local").strip().lower(),
            parallelism=_env_int("SLIPSTREAM_PARALLELISM", 32),
            scheduler_loop_interval=_env_float("SLIPSTREAM_SCHEDULER_LOOP_INTERVAL", 0.05),
            dag_dir_list_interval=_env_float("SLIPSTREAM_DAG_DIR_LIST_INTERVAL", 30.0),
            dag_file_processor_timeout=_env_float("SLIPSTREAM_DAG_FILE_PROCESSOR_TIMEOUT", 50.0),
            task_heartbeat_interval=_env_float("SLIPSTREAM_TASK_HEARTBEAT_INTERVAL", 1.0),
            zombie_threshold=_env_float("SLIPSTREAM_ZOMBIE_THRESHOLD", 30.0),
            zombie_check_interval=_env_float("SLIPSTREAM_ZOMBIE_CHECK_INTERVAL", 10.0),
            scheduler_heartbeat_interval=_env_float("SLIPSTREAM_SCHEDULER_HEARTBEAT_INTERVAL", 2.0),
            scheduler_health_check_threshold=_env_float("SLIPSTREAM_SCHEDULER_HEALTH_CHECK_THRESHOLD", 30.0),
            scheduler_shutdown_grace=_env_float("SLIPSTREAM_SCHEDULER_SHUTDOWN_GRACE", 10.0),
            max_tis_per_query=_env_int("SLIPSTREAM_MAX_TIS_PER_QUERY", 64),
            executor_dag_cache=_env_bool("SLIPSTREAM_EXECUTOR_DAG_CACHE", True),
            celery_broker_url=os.environ.get("SLIPSTREAM_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
            task_queued_timeout=_env_float("SLIPSTREAM_TASK_QUEUED_TIMEOUT", 600.0),
            auth_backend=os.environ.get("SLIPSTREAM_AUTH_BACKEND", "basic_auth").strip().lower(),
            allow_open_access=_env_bool("SLIPSTREAM_ALLOW_OPEN_ACCESS", False),
            max_body_bytes=_env_int("SLIPSTREAM_MAX_BODY_BYTES", 1024 * 1024),
            workers=_env_int("SLIPSTREAM_API_WORKERS", 1),
        )

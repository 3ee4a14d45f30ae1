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
    # Airflow's [core] dag_run_conf_overrides_params: a run's conf keys override (and add to) params.
    dag_run_conf_overrides_params: bool = True
    celery_broker_url: str = "redis://127.0.0.1:6379/0"
    # Celery executor: a try still `queued` this long is sent again once, then failed (Airflow: 600 s).
    task_queued_timeout: float = 600.0
    # Security
    auth_backend: str = "basic_auth"
    allow_open_access: bool = False
    max_body_bytes: int = 1024 * 1024
    # Failed Basic-auth attempts per client address and per username over a sliding minute (0: no limit)
    auth_failures_per_minute: int = 10
    # argon2 verifications one API worker runs at once; more unverified attempts are refused (429)
    auth_max_concurrent_verifications: int = 1
    # Seconds a locked-out attempt waits for its 429, so ignoring Retry-After does not turn into load
    auth_lockout_delay: float = 1.0
    # Connection discipline of the API server (per worker)
    http_header_timeout: float = 10.0
    http_body_timeout: float = 30.0
    http_keep_alive_timeout: float = 5.0
    http_max_connections: int = 10_000
    http_max_header_bytes: int = 32 * 1024
    # Fernet key(s) for variable and connection secrets, comma-separated (newest first, for rotation);
    # empty: a key generated into <home>/fernet.key on first use. Kept out of repr so it is never logged.
    fernet_key: str = field(default="", repr=False)
    # Key signing the stable API's file tokens (Airflow's [webserver] secret_key); empty: a key generated
    # into <home>/secret.key on first use. Every API worker must share it. Kept out of repr.
    secret_key: str = field(default="", repr=False)
    # More words that make a variable or extra key sensitive (masked in task logs), comma-separated.
    sensitive_var_conn_names: str = ""
    # API workers
    workers: int = 1
    # Task model: the largest XCom value stored, as serialized JSON bytes
    max_xcom_bytes: int = 1024 * 1024
    # [core] max_map_length: the longest return value a mapped task may expand over.
    max_map_length: int = 1024
    # Stable API. [webserver] expose_config: GET /api/v1/config answers 403 unless "true" (every value)
    # or "non-sensitive-only" (secrets as "< hidden >").
    expose_config: str = "false"
    # [api] enable_xcom_deserialize_support: whether ?deserialize=true may rebuild XCom values.
    enable_xcom_deserialize_support: bool = False
    # [core] test_connection: POST /api/v1/connections/test answers 403 unless "enabled".
    test_connection: str = "disabled"
    # Seconds a connection test waits for the host to accept a TCP connection.
    connection_test_timeout: float = 5.0

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
            dag_run_conf_overrides_params=_env_bool("SLIPSTREAM_DAG_RUN_CONF_OVERRIDES_PARAMS", True),
            celery_broker_url=os.environ.get("SLIPSTREAM_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
            task_queued_timeout=_env_float("SLIPSTREAM_TASK_QUEUED_TIMEOUT", 600.0),
            auth_backend=os.environ.get("SLIPSTREAM_AUTH_BACKEND", "basic_auth").strip().lower(),
            allow_open_access=_env_bool("SLIPSTREAM_ALLOW_OPEN_ACCESS", False),
            max_body_bytes=_env_int("SLIPSTREAM_MAX_BODY_BYTES", 1024 * 1024),
            auth_failures_per_minute=_env_int("SLIPSTREAM_AUTH_FAILURES_PER_MINUTE", 10),
            auth_max_concurrent_verifications=_env_int("SLIPSTREAM_AUTH_MAX_CONCURRENT_VERIFICATIONS", 1),
            auth_lockout_delay=_env_float("SLIPSTREAM_AUTH_LOCKOUT_DELAY", 1.0),
            http_header_timeout=_env_float("SLIPSTREAM_HTTP_HEADER_TIMEOUT", 10.0),
            http_body_timeout=_env_float("SLIPSTREAM_HTTP_BODY_TIMEOUT", 30.0),
            http_keep_alive_timeout=_env_float("SLIPSTREAM_HTTP_KEEP_ALIVE_TIMEOUT", 5.0),
            http_max_connections=_env_int("SLIPSTREAM_HTTP_MAX_CONNECTIONS", 10_000),
            http_max_header_bytes=_env_int("SLIPSTREAM_HTTP_MAX_HEADER_BYTES", 32 * 1024),
            fernet_key=os.environ.get("SLIPSTREAM_FERNET_KEY", "").strip(),
            secret_key=os.environ.get("SLIPSTREAM_SECRET_KEY", "").strip(),
            sensitive_var_conn_names=os.environ.get("SLIPSTREAM_SENSITIVE_VAR_CONN_NAMES", ""),
            workers=_env_int("SLIPSTREAM_API_WORKERS", 1),
            max_xcom_bytes=_env_int("SLIPSTREAM_MAX_XCOM_BYTES", 1024 * 1024),
            max_map_length=_env_int("SLIPSTREAM_MAX_MAP_LENGTH", 1024),
            expose_config=os.environ.get("SLIPSTREAM_EXPOSE_CONFIG", "false").strip().lower() or "false",
            enable_xcom_deserialize_support=_env_bool("SLIPSTREAM_ENABLE_XCOM_DESERIALIZE_SUPPORT", False),
            test_connection=os.environ.get("SLIPSTREAM_TEST_CONNECTION", "disabled").strip().lower() or "disabled",
            connection_test_timeout=_env_float("SLIPSTREAM_CONNECTION_TEST_TIMEOUT", 5.0),
        )

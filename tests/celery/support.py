"""Helpers for Celery executor tests: `slipstream scheduler` (SLIPSTREAM_EXECUTOR=celery) and
`slipstream worker` as real processes against the test's database."""

from __future__ import annotations

from slipstream.config import Settings
from tests.engine.support import FAST_TIMERS, wait_for
from tests.live_server import SLIPSTREAM, Process, environment


def celery_environment(settings: Settings, broker: str, **extra: str) -> dict[str, str]:
    return environment(
        settings, SLIPSTREAM_EXECUTOR="celery", SLIPSTREAM_CELERY_BROKER_URL=broker, **FAST_TIMERS, **extra
    )


def start_scheduler(settings: Settings, broker: str, name: str = "scheduler", **env: str) -> Process:
    process = Process(
        [*SLIPSTREAM, "scheduler"], celery_environment(settings, broker, **env), settings.home / f"{name}.log"
    )
    wait_for(lambda: "CeleryExecutor started" in process.output() or process.popen.poll() is not None, 30, name)
    assert process.popen.poll() is None, process.output()
    return process


def start_worker(
    settings: Settings, broker: str, *, queues: str = "default", concurrency: int = 4, name: str = "worker"
) -> Process:
    process = Process(
        [*SLIPSTREAM, "worker", "--queues", queues, "--concurrency", str(concurrency)],
        celery_environment(settings, broker),
        settings.home / f"{name}.log",
    )
    wait_for(lambda: " ready." in process.output() or process.popen.poll() is not None, 30, f"{name} to be ready")
    assert process.popen.poll() is None, process.output()
    return process

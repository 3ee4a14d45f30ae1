"""Fixtures for engine tests: fast engine settings and an in-process scheduler (helpers: support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from slipstream.config import Settings
from slipstream.scheduler.loop import SchedulerThread


@pytest.fixture
def engine_settings(settings: Settings) -> Settings:
    """Fast timers, so heartbeats, zombies and orphans are found in seconds, not minutes."""
    return settings.with_overrides(
        scheduler_loop_interval=0.02,
        task_heartbeat_interval=0.2,
        # Not lower: a pass that expands hundreds of mapped tries holds the write lock for a while, and on
        # a loaded 2-core machine heartbeats queued behind it were seen 3 s late (false zombies).
        zombie_threshold=10.0,
        zombie_check_interval=0.5,
        scheduler_heartbeat_interval=0.5,
        scheduler_health_check_threshold=2.0,
        scheduler_shutdown_grace=5.0,
        parallelism=8,
    )


@pytest.fixture
def scheduler(engine_settings: Settings) -> Iterator[SchedulerThread]:
    thread = SchedulerThread(engine_settings)
    thread.start()
    yield thread
    thread.stop(timeout=30)
    assert not thread.is_alive(), "the scheduler did not stop"

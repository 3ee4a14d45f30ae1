"""Fixtures for Celery executor tests: a private Redis database (or RabbitMQ vhost queues) per test,
and real `slipstream scheduler` / `slipstream worker` processes (helpers: support.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bench.engine import reachable

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672
_LOCK_KEY = "slipstream-celery-test-lock"


@pytest.fixture
def redis_broker() -> Iterator[str]:
    """redis://127.0.0.1:6379/<n>, with <n> a database no other test run holds (a lock key claims it)."""
    if not reachable(REDIS_HOST, REDIS_PORT):
        pytest.skip(f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT} (scripts/ensure-services starts it)")
    import redis

    token = f"{os.getpid()}-{os.urandom(4).hex()}"
    for number in range(1, 16):
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
        try:
            claimed = client.set(_LOCK_KEY, token, nx=True, ex=600)
        except redis.ResponseError:  # fewer databases configured
            break
        if not claimed:
            client.close()
            continue
        # Left-overs of an earlier run that died: only Celery's keys and ours live here.
        for key in client.scan_iter():
            if key != _LOCK_KEY.encode():
                client.delete(key)
        try:
            yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{number}"
        finally:
            for key in client.scan_iter():
                if key != _LOCK_KEY.encode():
                    client.delete(key)
            if client.get(_LOCK_KEY) == token.encode():
                client.delete(_LOCK_KEY)
            client.close()
        return
    pytest.skip("every Redis database 1-15 is held by another test run")


@pytest.fixture
def rabbitmq_broker() -> str:
    if not reachable(RABBIT_HOST, RABBIT_PORT):
        pytest.skip(f"RabbitMQ is not reachable at {RABBIT_HOST}:{RABBIT_PORT}")
    return f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}//"

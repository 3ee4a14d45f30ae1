"""Several API worker processes share nothing but the database."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select

from slipstream.dag_processing import process_all
from slipstream.storage.db import session_scope
from slipstream.storage.models import AuditLog, DagRun, Pool, TaskInstance
from tests.live_server import ApiServer

pytestmark = pytest.mark.slow

DAG_ID = "example_bash_operator"


@pytest.fixture
def two_workers(settings, tmp_path):
    settings = settings.with_overrides(load_examples=True, auth_backend="default")
    process_all(settings)
    with ApiServer(settings, workers=2) as server:
        yield settings, server


async def _trigger_concurrently(base_url: str, body: dict, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        url = f"/api/experimental/dags/{DAG_ID}/dag_runs"
        return await asyncio.gather(*(client.post(url, json=body) for _ in range(count)))


def _runs(settings) -> int:
    with session_scope(settings.database_url, write=False) as session:
        return session.scalar(select(func.count()).select_from(DagRun).where(DagRun.dag_id == DAG_ID))


def test_fifty_duplicate_triggers_create_exactly_one_run(two_workers):
    settings, server = two_workers
    body = {"run_id": "only_once", "execution_date": "2030-01-01T00:00:00+00:00"}

    responses = asyncio.run(_trigger_concurrently(server.base_url, body, 50))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 49, statuses
    duplicate = (
        "A DAG Run already exists for DAG example_bash_operator at 2030-01-01 00:00:00+00:00 with run id only_once"
    )
    for response in responses:
        if response.status_code == 400:
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["error"] == duplicate
    assert _runs(settings) == 1


def test_same_execution_date_with_different_run_ids_creates_one_run(two_workers):
    settings, server = two_workers

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            url = f"/api/experimental/dags/{DAG_ID}/dag_runs"
            bodies = [{"run_id": f"racer_{n}", "execution_date": "2031-05-05T05:05:05+00:00"} for n in range(20)]
            return await asyncio.gather(*(client.post(url, json=b) for b in bodies))

    responses = asyncio.run(race())

    assert sorted(r.status_code for r in responses) == [200] + [400] * 19
    assert _runs(settings) == 1


@pytest.fixture
def one_worker(settings):
    settings = settings.with_overrides(load_examples=True, auth_backend="default")
    process_all(settings)
    with ApiServer(settings, workers=1) as server:
        yield settings, server


def test_concurrent_changes_are_committed_together_yet_each_answered_alone(one_worker):
    """Group commit through HTTP: 60 concurrent triggers, 10 of them duplicates of others and 5 for a
    DAG that does not exist, beside pool changes. Every request gets its own answer, and what is
    stored is exactly what the successful answers say: a run, its 7 task instances and an audit row each."""
    settings, server = one_worker
    url = f"/api/experimental/dags/{DAG_ID}/dag_runs"
    bodies = [(url, {"run_id": f"mixed_{n}", "execution_date": f"2032-01-01T00:{n:02d}:00+00:00"}) for n in range(45)]
    bodies += [(url, {"run_id": f"mixed_{n}"}) for n in range(10)]  # the same run ids, another date
    bodies += [("/api/experimental/dags/no_such_dag/dag_runs", {}) for _ in range(5)]
    bodies += [("/api/experimental/pools", {"name": f"pool_{n}", "slots": n}) for n in range(10)]

    async def send_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(bodies))
        async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=30) as client:
            return await asyncio.gather(*(client.post(path, json=body) for path, body in bodies))

    responses = asyncio.run(send_all())

    # Whichever of a run id's two requests arrived first created the run; the other is the duplicate.
    triggered = [r.json()["run_id"] for r in responses[:55] if r.status_code == 200]
    assert sorted(triggered) == sorted(f"mixed_{n}" for n in range(45))
    refused = [r for r in responses[:55] if r.status_code != 200]
    assert len(refused) == 10
    assert all(r.status_code == 400 and "already exists" in r.json()["error"] for r in refused)
    missing = "Dag id no_such_dag not found in DagModel"
    assert all(r.status_code == 404 and r.json()["error"] == missing for r in responses[55:60])
    assert [r.json()["pool"] for r in responses[60:]] == [f"pool_{n}" for n in range(10)]
    with session_scope(settings.database_url, write=False) as session:
        runs = session.scalars(select(DagRun.run_id).where(DagRun.run_id.like("mixed_%"))).all()
        assert sorted(runs) == sorted(triggered)
        instances = session.scalar(
            select(func.count()).select_from(TaskInstance).where(TaskInstance.run_id.like("mixed_%"))
        )
        assert instances == 45 * 7
        audited = session.scalars(select(AuditLog.target).where(AuditLog.event == "dag_run.trigger")).all()
        assert sorted(audited) == sorted(triggered)
        pools = session.scalars(select(Pool.pool).where(Pool.pool.like("pool_%"))).all()
        assert sorted(pools) == sorted(f"pool_{n}" for n in range(10))

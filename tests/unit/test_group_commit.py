"""Group commit: concurrent units share transactions, yet each stays all-or-nothing and gets its own answer."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import event, func, select

from slipstream import group_commit
from slipstream.db import get_engine, session_scope
from slipstream.errors import BadRequest
from slipstream.models import Pool
from slipstream.services import pools


def _add_pool(name: str, slots: int = 1):
    def work(session):
        pools.create_or_update_pool(session, name=name, slots=slots)
        return name

    return work


def _pool_names(url: str) -> set[str]:
    with session_scope(url, write=False) as session:
        return set(session.scalars(select(Pool.pool)))


def _count_commits(url: str) -> list[int]:
    commits = [0]

    @event.listens_for(get_engine(url), "commit")
    def _on_commit(_conn):
        commits[0] += 1

    return commits


def _hold_first_batch() -> tuple[threading.Event, object]:
    """A unit that keeps the writer busy until released, so that the units submitted meanwhile queue up."""
    release = threading.Event()

    def blocker(_session):
        release.wait(10)
        return "blocker"

    return release, blocker


def test_waiting_units_are_committed_together(settings):
    url = settings.database_url
    commits = _count_commits(url)
    release, blocker = _hold_first_batch()

    async def scenario():
        first = asyncio.ensure_future(group_commit.run_group_committed(url, blocker))
        await asyncio.sleep(0.2)  # the writer is inside the blocker's batch now
        rest = [asyncio.ensure_future(group_commit.run_group_committed(url, _add_pool(f"p{i}"))) for i in range(20)]
        await asyncio.sleep(0.2)
        release.set()
        return await first, await asyncio.gather(*rest)

    blocked, names = asyncio.run(scenario())
    assert blocked == "blocker"
    assert names == [f"p{i}" for i in range(20)]
    assert {f"p{i}" for i in range(20)} <= _pool_names(url)
    # One commit for the blocker's batch, one for the 20 that queued behind it.
    assert commits[0] == 2


def test_a_failing_unit_leaves_no_rows_and_the_others_commit(settings):
    url = settings.database_url
    release, blocker = _hold_first_batch()

    def half_done_then_fails(session):
        pools.create_or_update_pool(session, name="half_made", slots=1)
        session.flush()
        raise BadRequest("the second half failed")

    async def scenario():
        first = asyncio.ensure_future(group_commit.run_group_committed(url, blocker))
        await asyncio.sleep(0.2)
        units = [_add_pool("before"), half_done_then_fails, _add_pool("after")]
        futures = [asyncio.ensure_future(group_commit.run_group_committed(url, unit)) for unit in units]
        await asyncio.sleep(0.2)
        release.set()
        await first
        return await asyncio.gather(*futures, return_exceptions=True)

    before, failed, after = asyncio.run(scenario())
    assert (before, after) == ("before", "after")
    assert isinstance(failed, BadRequest) and failed.message == "the second half failed"
    names = _pool_names(url)
    assert {"before", "after"} <= names
    assert "half_made" not in names


def test_units_see_the_rows_of_earlier_units_in_their_batch(settings):
    """A duplicate inside one batch is caught by the unit's own check, as it would be one at a time."""
    url = settings.database_url
    release, blocker = _hold_first_batch()

    def create_once(session):
        if pools.pool_exists(session, "only_once"):
            raise BadRequest("exists")
        pools.create_or_update_pool(session, name="only_once", slots=1)
        return "created"

    async def scenario():
        first = asyncio.ensure_future(group_commit.run_group_committed(url, blocker))
        await asyncio.sleep(0.2)
        futures = [asyncio.ensure_future(group_commit.run_group_committed(url, create_once)) for _ in range(10)]
        await asyncio.sleep(0.2)
        release.set()
        await first
        return await asyncio.gather(*futures, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert outcomes.count("created") == 1
    assert sum(isinstance(o, BadRequest) for o in outcomes) == 9
    with session_scope(url, write=False) as session:
        assert session.scalar(select(func.count()).select_from(Pool).where(Pool.pool == "only_once")) == 1


def test_an_idle_writer_stops_and_a_new_one_serves_the_next_unit(settings, monkeypatch):
    url = settings.database_url
    monkeypatch.setattr(group_commit, "IDLE_SECONDS", 0.1)

    async def submit(name):
        return await group_commit.run_group_committed(url, _add_pool(name))

    assert asyncio.run(submit("first")) == "first"
    deadline = time.monotonic() + 5
    while group_commit.normalize_url(url) in group_commit._writers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_commit.normalize_url(url) not in group_commit._writers
    assert asyncio.run(submit("second")) == "second"
    assert {"first", "second"} <= _pool_names(url)


@pytest.mark.parametrize("loops", [3])
def test_each_caller_is_answered_on_its_own_event_loop(settings, loops):
    url = settings.database_url
    results: dict[int, str] = {}

    def caller(i: int) -> None:
        results[i] = asyncio.run(group_commit.run_group_committed(url, _add_pool(f"loop{i}")))

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(loops)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == {i: f"loop{i}" for i in range(loops)}

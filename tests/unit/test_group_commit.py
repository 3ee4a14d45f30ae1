"""Group commit: concurrent units share transactions, yet each stays all-or-nothing and gets its own answer.

The writer thread (PostgreSQL, and SQLite when the write lock is busy) is driven through
run_on_writer_thread; the SQLite batches that run on the event loop itself through run_group_committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time

import pytest
from sqlalchemy import event, func, select

from slipstream.errors import BadRequest
from slipstream.services import pools
from slipstream.storage import group_commit
from slipstream.storage.db import WriteLockBusy, get_engine, normalize_url, session_scope
from slipstream.storage.models import Pool
from tests.databases import backend

sqlite_only = pytest.mark.skipif(
    backend() != "sqlite", reason="batches run on the event loop on SQLite only; PostgreSQL's use the writer thread"
)


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


def _half_done_then_fails(session):
    pools.create_or_update_pool(session, name="half_made", slots=1)
    session.flush()
    raise BadRequest("the second half failed")


def _create_once(session):
    """Creates the pool only_once, or fails when an earlier unit (of its batch, too) has."""
    if pools.pool_exists(session, "only_once"):
        raise BadRequest("exists")
    pools.create_or_update_pool(session, name="only_once", slots=1)
    return "created"


def _queued_behind_a_busy_writer(url: str, units: list) -> list:
    """Each unit's outcome (result or exception), all submitted to the writer thread while it was
    inside another batch (a unit that waits for a signal), so that they queue up and run as one batch."""
    release = threading.Event()

    def blocker(_session):
        release.wait(10)
        return "blocker"

    async def scenario():
        first = asyncio.ensure_future(group_commit.run_on_writer_thread(url, blocker))
        await asyncio.sleep(0.2)  # the writer is inside the blocker's batch now
        futures = [asyncio.ensure_future(group_commit.run_on_writer_thread(url, unit)) for unit in units]
        await asyncio.sleep(0.2)
        release.set()
        assert await first == "blocker"
        return await asyncio.gather(*futures, return_exceptions=True)

    return asyncio.run(scenario())


def test_units_waiting_for_the_writer_thread_are_committed_together(settings):
    url = settings.database_url
    commits = _count_commits(url)

    names = _queued_behind_a_busy_writer(url, [_add_pool(f"p{i}") for i in range(20)])

    assert names == [f"p{i}" for i in range(20)]
    assert {f"p{i}" for i in range(20)} <= _pool_names(url)
    # One commit for the blocker's batch, one for the 20 that queued behind it.
    assert commits[0] == 2


def test_a_failing_unit_leaves_no_rows_and_the_others_commit(settings):
    url = settings.database_url

    before, failed, after = _queued_behind_a_busy_writer(
        url, [_add_pool("before"), _half_done_then_fails, _add_pool("after")]
    )

    assert (before, after) == ("before", "after")
    assert isinstance(failed, BadRequest) and failed.message == "the second half failed"
    names = _pool_names(url)
    assert {"before", "after"} <= names
    assert "half_made" not in names


def test_units_see_the_rows_of_earlier_units_in_their_batch(settings):
    """A duplicate inside one batch is caught by the unit's own check, as it would be one at a time."""
    url = settings.database_url

    outcomes = _queued_behind_a_busy_writer(url, [_create_once] * 10)

    assert outcomes.count("created") == 1
    assert sum(isinstance(o, BadRequest) for o in outcomes) == 9
    with session_scope(url, write=False) as session:
        assert session.scalar(select(func.count()).select_from(Pool).where(Pool.pool == "only_once")) == 1


def test_an_idle_writer_stops_and_a_new_one_serves_the_next_unit(settings, monkeypatch):
    url = settings.database_url
    monkeypatch.setattr(group_commit, "IDLE_SECONDS", 0.1)

    async def submit(name):
        return await group_commit.run_on_writer_thread(url, _add_pool(name))

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
        results[i] = asyncio.run(group_commit.run_on_writer_thread(url, _add_pool(f"loop{i}")))

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(loops)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == {i: f"loop{i}" for i in range(loops)}


# -- on the event loop (SQLite) -------------------------------------------------------------------


def _loop_thread_recorder(name: str, threads: dict[str, int]):
    def work(session):
        threads[name] = threading.get_ident()
        pools.create_or_update_pool(session, name=name, slots=1)
        return name

    return work


@sqlite_only
def test_units_of_one_loop_iteration_run_on_the_loop_in_one_transaction(settings):
    url = settings.database_url
    commits = _count_commits(url)
    threads: dict[str, int] = {}

    async def scenario():
        units = [_loop_thread_recorder(f"p{i}", threads) for i in range(20)]
        answers = await asyncio.gather(*(group_commit.run_group_committed(url, unit) for unit in units))
        return answers, threading.get_ident()

    answers, loop_thread = asyncio.run(scenario())
    assert answers == [f"p{i}" for i in range(20)]
    assert set(threads.values()) == {loop_thread}
    assert commits[0] == 1
    assert {f"p{i}" for i in range(20)} <= _pool_names(url)


@sqlite_only
def test_a_loop_batch_is_bounded_and_the_rest_follows(settings, monkeypatch):
    url = settings.database_url
    monkeypatch.setattr(group_commit, "MAX_BATCH", 4)
    commits = _count_commits(url)

    async def scenario():
        return await asyncio.gather(*(group_commit.run_group_committed(url, _add_pool(f"b{i}")) for i in range(10)))

    assert asyncio.run(scenario()) == [f"b{i}" for i in range(10)]
    assert commits[0] == 3  # 4 + 4 + 2
    assert {f"b{i}" for i in range(10)} <= _pool_names(url)


@sqlite_only
def test_a_failing_unit_in_a_loop_batch_leaves_no_rows_and_the_others_commit(settings):
    url = settings.database_url

    async def scenario():
        units = [_add_pool("before"), _half_done_then_fails, _add_pool("after"), *[_create_once] * 5]
        return await asyncio.gather(
            *(group_commit.run_group_committed(url, unit) for unit in units), return_exceptions=True
        )

    before, failed, after, *once = asyncio.run(scenario())
    assert (before, after) == ("before", "after")
    assert isinstance(failed, BadRequest) and failed.message == "the second half failed"
    assert once.count("created") == 1 and sum(isinstance(o, BadRequest) for o in once) == 4
    names = _pool_names(url)
    assert {"before", "after", "only_once"} <= names
    assert "half_made" not in names


def _sqlite_path(url: str) -> str:
    return normalize_url(url).removeprefix("sqlite:///")


@sqlite_only
@pytest.mark.parametrize("holder", ["another connection", "another thread of this process"])
def test_while_the_write_lock_is_held_the_loop_serves_on_and_the_writer_thread_waits(settings, holder):
    """The loop never waits for the lock: the batch goes to the writer thread, which commits it after."""
    url = settings.database_url
    release = threading.Event()
    held = threading.Event()

    def hold_the_lock() -> None:
        if holder == "another connection":
            connection = sqlite3.connect(_sqlite_path(url), isolation_level=None)
            connection.execute("BEGIN IMMEDIATE")
            held.set()
            release.wait(10)
            connection.execute("COMMIT")
            connection.close()
        else:
            with session_scope(url, write=True) as session:
                session.connection()
                held.set()
                release.wait(10)

    holder_thread = threading.Thread(target=hold_the_lock)
    holder_thread.start()
    assert held.wait(10)
    threads: dict[str, int] = {}

    async def scenario():
        units = [_loop_thread_recorder(f"w{i}", threads) for i in range(5)]
        pending = asyncio.gather(*(group_commit.run_group_committed(url, unit) for unit in units))
        ticks = 0
        started = time.monotonic()
        while time.monotonic() - started < 0.5:
            await asyncio.sleep(0.01)
            ticks += 1
        waited = not pending.done()
        release.set()
        return await pending, ticks, waited, threading.get_ident()

    try:
        answers, ticks, waited, loop_thread = asyncio.run(scenario())
    finally:
        release.set()
        holder_thread.join(10)
    assert answers == [f"w{i}" for i in range(5)]
    assert waited  # nothing committed while the lock was held elsewhere
    assert ticks >= 20  # the loop went on meanwhile (0.5 s of 10 ms sleeps, with room for a slow machine)
    assert loop_thread not in set(threads.values())
    assert {f"w{i}" for i in range(5)} <= _pool_names(url)


@sqlite_only
def test_a_write_scope_that_must_not_wait_gives_up_at_once_and_leaves_the_busy_timeout_as_it_was(settings):
    url = settings.database_url
    other = sqlite3.connect(_sqlite_path(url), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    try:
        with pytest.raises(WriteLockBusy):
            with session_scope(url, write=True, wait=False) as session:
                pools.create_or_update_pool(session, name="never", slots=1)
    finally:
        other.execute("COMMIT")
        other.close()
    assert time.monotonic() - started < 1  # not SQLite's 30 s busy wait
    assert "never" not in _pool_names(url)
    # Every pooled connection (the one that tried among them) waits for the lock as before.
    engine = get_engine(url)
    with contextlib.ExitStack() as stack:
        connections = [stack.enter_context(engine.connect()) for _ in range(engine.pool.checkedin())]
        assert [c.exec_driver_sql("PRAGMA busy_timeout").scalar() for c in connections] == [30_000] * len(connections)
    with session_scope(url, write=True, wait=False) as session:  # free again: taken at once
        pools.create_or_update_pool(session, name="now", slots=1)
    assert "now" in _pool_names(url)

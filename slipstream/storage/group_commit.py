"""Group commit: concurrent requests' units of work committed together, in one transaction.

A trigger's own statements cost about as much as the transaction around them (BEGIN IMMEDIATE, the
commit writing every touched index page to the WAL). Under concurrent load, every unit of work that
is waiting is run, one after another, in one transaction that commits once.

Where a batch runs:
- SQLite: on the event loop itself, once per loop iteration, when the write lock can be had at once
  (session_scope(wait=False)). The hand-off to a thread and the GIL handovers around each SQLite
  call cost more than they save: with 16 concurrent triggers driven in-process, each took about
  15% less CPU this way. A batch's units run in the context of the request that started it; units
  take what they need from their closure, as on the writer thread.
  When another connection holds the lock (the scheduler, another worker), the batch goes to the
  writer thread instead, which waits for it, so the loop never waits for a lock.
- PostgreSQL: always the writer thread, which waits on the network while the loop serves others.
  The writer takes every unit waiting in its queue as one batch and answers each caller's event
  loop with one wake-up per batch.

Each unit stays all-or-nothing: when any unit of a batch raises, the whole batch is rolled back and
every unit of it is run again alone, in its own transaction, so that a failing unit (a duplicate run,
a DAG deleted meanwhile) neither takes others down nor leaves half of its own rows behind. Units must
therefore touch nothing but the session they are given, and may run twice when a batch is redone.
A caller is answered only after the commit that holds its rows.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from slipstream.storage.db import WriteLockBusy, normalize_url, session_scope

T = TypeVar("T")
# Bounded so that one batch's transaction (and so the write lock, and each caller's wait) stays short.
MAX_BATCH = 32
IDLE_SECONDS = 5.0


@dataclass(slots=True)
class _Unit:
    work: Callable[[Session], Any]
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class GroupCommitWriter:
    """One writer thread for one database; units are submitted from event loops and awaited there.

    The thread stops after IDLE_SECONDS without work (tests open many databases in one process) and
    the next unit starts a new one; submitting and stopping agree under one lock, so no unit is left
    in a queue nobody reads.
    """

    def __init__(self, database_url: str, max_batch: int = MAX_BATCH) -> None:
        self.database_url = database_url
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Unit] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="slipstream-group-commit", daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with _writers_lock:
                    if self._queue.empty():
                        del _writers[self.database_url]
                        return
                continue
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            _answer(self._run_batch(batch))

    def _run_batch(self, batch: list[_Unit]) -> list[tuple[_Unit, bool, Any]]:
        outcomes: list[tuple[_Unit, bool, Any]] = []
        try:
            with session_scope(self.database_url, write=True) as session:
                for unit in batch:
                    outcomes.append((unit, True, unit.work(session)))
            return outcomes
        except BaseException as first_error:  # noqa: BLE001 - every unit is answered, whatever went wrong
            if len(batch) == 1:
                return [(batch[0], False, first_error)]
        return [self._run_alone(unit) for unit in batch]

    def _run_alone(self, unit: _Unit) -> tuple[_Unit, bool, Any]:
        try:
            with session_scope(self.database_url, write=True) as session:
                return unit, True, unit.work(session)
        except BaseException as error:  # noqa: BLE001
            return unit, False, error


def _answer(outcomes: list[tuple[_Unit, bool, Any]]) -> None:
    """One wake-up per event loop for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Unit, bool, Any]]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, answers in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, answers)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            pass


def _settle(answers: list[tuple[_Unit, bool, Any]]) -> None:
    for unit, ok, value in answers:
        if unit.future.done():  # the request was cancelled (client gone); its rows stay committed
            continue
        if ok:
            unit.future.set_result(value)
        else:
            unit.future.set_exception(value)


_writers: dict[str, GroupCommitWriter] = {}
_writers_lock = threading.Lock()


async def run_group_committed(database_url: str, work: Callable[[Session], T]) -> T:
    """Run `work(session)` in a transaction with whatever other units are waiting (see the module
    docstring for where); its result once committed, or its exception."""
    loop = asyncio.get_running_loop()
    unit = _Unit(work, loop.create_future(), loop)
    url = normalize_url(database_url)
    if url.startswith("sqlite"):
        _queue_on_loop(loop, url, unit)
    else:
        _submit_to_writer(url, [unit])
    return await unit.future


async def run_on_writer_thread(database_url: str, work: Callable[[Session], T]) -> T:
    """run_group_committed, always through the writer thread: for units that may wait (on locks, I/O)."""
    loop = asyncio.get_running_loop()
    unit = _Unit(work, loop.create_future(), loop)
    _submit_to_writer(normalize_url(database_url), [unit])
    return await unit.future


def _submit_to_writer(url: str, units: list[_Unit]) -> None:
    with _writers_lock:
        writer = _writers.get(url)
        if writer is None:
            writer = _writers[url] = GroupCommitWriter(url)
            writer._thread.start()
        for unit in units:
            writer._queue.put(unit)


# Units waiting for their loop's next batch, by (loop, database URL); an entry lives from the first
# unit of a batch until the batch runs, a moment later on the same loop (so only that loop touches it).
_on_loop: dict[tuple[asyncio.AbstractEventLoop, str], list[_Unit]] = {}


def _queue_on_loop(loop: asyncio.AbstractEventLoop, url: str, unit: _Unit) -> None:
    waiting = _on_loop.get((loop, url))
    if waiting is None:
        _on_loop[(loop, url)] = [unit]
        # After the callbacks already due: the other requests of this loop iteration join the batch.
        loop.call_soon(_run_loop_batch, loop, url)
    else:
        waiting.append(unit)


def _run_loop_batch(loop: asyncio.AbstractEventLoop, url: str) -> None:
    units = _on_loop.pop((loop, url))
    batch, rest = units[:MAX_BATCH], units[MAX_BATCH:]
    if rest:  # bounded, so one batch holds the loop (and the lock) for a short while only
        _on_loop[(loop, url)] = rest
        loop.call_soon(_run_loop_batch, loop, url)
    try:
        with session_scope(url, write=True, wait=False) as session:
            outcomes = [(unit, True, unit.work(session)) for unit in batch]
    except WriteLockBusy:
        _submit_to_writer(url, batch)
        return
    except Exception as first_error:  # every unit is answered, whatever went wrong
        if len(batch) == 1:
            outcomes = [(batch[0], False, first_error)]
        else:
            outcomes = _run_alone_on_loop(url, batch)
    _settle(outcomes)


def _run_alone_on_loop(url: str, units: list[_Unit]) -> list[tuple[_Unit, bool, Any]]:
    """Each unit in a transaction of its own; from the first that finds the lock busy, the writer's."""
    outcomes: list[tuple[_Unit, bool, Any]] = []
    for i, unit in enumerate(units):
        try:
            with session_scope(url, write=True, wait=False) as session:
                outcomes.append((unit, True, unit.work(session)))
        except WriteLockBusy:
            _submit_to_writer(url, units[i:])
            break
        except Exception as error:
            outcomes.append((unit, False, error))
    return outcomes

"""Between passes the scheduler waits for an executor event; a try starting is not one that ends the
wait (a pass then would only contend for the write lock the fork server needs to claim that try)."""

from __future__ import annotations

import time

from slipstream.scheduler.executors.base import TaskEvent
from slipstream.scheduler.loop import SchedulerJob


class ScriptedExecutor:
    """Hands out one batch of events per wait, as a fork server's messages arrive."""

    def __init__(self, batches: list[list[TaskEvent]]):
        self.batches = batches
        self.waits = 0
        self._ready: list[TaskEvent] = []

    def wait(self, timeout: float) -> None:
        self.waits += 1
        if self.batches:
            self._ready = self.batches.pop(0)
        else:
            time.sleep(timeout)

    def get_events(self) -> list[TaskEvent]:
        ready, self._ready = self._ready, []
        return ready


def _job(engine_settings, executor) -> SchedulerJob:
    return SchedulerJob(engine_settings, executor=executor)


def test_starts_alone_do_not_end_the_wait_but_an_exit_does(engine_settings):
    started = [TaskEvent(1, 1, "started", pid=10)]
    exited = [TaskEvent(1, 1, "exited", returncode=0)]
    executor = ScriptedExecutor([started, started, exited, started])
    job = _job(engine_settings, executor)
    job._idle(5.0)
    assert executor.waits == 3  # woke three times, went on after the starts, returned on the exit
    assert [e.kind for e in job._unhandled_events] == ["exited"]  # kept for the next pass


def test_a_quiet_wait_ends_at_its_interval(engine_settings):
    executor = ScriptedExecutor([[TaskEvent(1, 1, "started", pid=10)]])
    job = _job(engine_settings, executor)
    began = time.monotonic()
    job._idle(0.2)
    assert 0.15 <= time.monotonic() - began < 2
    assert job._unhandled_events == []

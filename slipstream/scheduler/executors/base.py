"""The executor interface the scheduler talks to; LocalExecutor and CeleryExecutor."""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass

from slipstream.scheduler.queueing import QueuedTask


@dataclass(frozen=True)
class TaskEvent:
    """What happened to one try. kind: "started", "exited" (the process is gone; returncode says how),
    or "lost" (the executor lost track before the process could start; the try never ran)."""

    ti_id: int
    try_number: int
    kind: str
    pid: int | None = None
    returncode: int | None = None
    reason: str | None = None  # why an "exited" try failed, when the executor knows better than a return code

    @property
    def key(self) -> tuple[int, int]:
        return (self.ti_id, self.try_number)


class BaseExecutor(abc.ABC):
    """Runs task-instance tries somewhere and reports back. Not thread-safe: the scheduler loop owns it."""

    def __init__(self, parallelism: int):
        self.parallelism = parallelism
        # Tries handed over and not yet reported gone, by (ti_id, try_number).
        self.running: dict[tuple[int, int], QueuedTask] = {}

    @property
    def open_slots(self) -> float:
        if self.parallelism <= 0:
            return math.inf
        return max(0, self.parallelism - len(self.running))

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def queue_task(self, task: QueuedTask) -> None:
        """Accept one queued try; it is started by the next heartbeat at the latest."""

    @abc.abstractmethod
    def heartbeat(self) -> None:
        """Start what was queued; keep workers alive."""

    @abc.abstractmethod
    def get_events(self) -> list[TaskEvent]:
        """Events since the last call; never blocks."""

    @abc.abstractmethod
    def wait(self, timeout: float) -> None:
        """Block until an event may be ready or `timeout` seconds passed."""

    @abc.abstractmethod
    def end(self, grace: float) -> list[TaskEvent]:
        """Stop: let running tries finish for up to `grace` seconds, then terminate them. Returns the last events."""

    @abc.abstractmethod
    def terminate(self) -> None:
        """Stop now: kill every running try."""

"""BaseTrigger and TriggerEvent: what a trigger is (a serializable async generator) and what it yields."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any


@dataclass
class StartTriggerArgs:
    """How an operator with `start_from_trigger = True` is deferred by the scheduler itself, without a
    first try on a worker (Airflow 2.10): the trigger's import path and kwargs (taken as they are at
    parse time: no template is rendered, no XCom resolved), and where the task resumes."""

    trigger_cls: str
    next_method: str
    trigger_kwargs: dict[str, Any] | None = None
    next_kwargs: dict[str, Any] | None = None
    timeout: timedelta | None = None


class TriggerEvent:
    """What a trigger yields when its condition is met; `payload` reaches the resumed method as `event`."""

    def __init__(self, payload: Any):
        self.payload = payload

    def __repr__(self) -> str:
        return f"TriggerEvent<{self.payload!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TriggerEvent) and other.payload == self.payload


class BaseTaskEndEvent(TriggerEvent):
    """An event that ends the task instance from the triggerer, without resuming it on a worker."""

    task_instance_state = ""

    def __init__(self, *, xcoms: dict[str, Any] | None = None):
        super().__init__(payload=self.task_instance_state)
        self.xcoms = xcoms


class TaskSuccessEvent(BaseTaskEndEvent):
    task_instance_state = "success"


class TaskFailedEvent(BaseTaskEndEvent):
    task_instance_state = "failed"


class TaskSkippedEvent(BaseTaskEndEvent):
    task_instance_state = "skipped"


class BaseTrigger(abc.ABC):
    """Subclasses define `serialize()` -> (classpath, kwargs) and `async run()` yielding TriggerEvents.

    The triggerer rebuilds a trigger as `import(classpath)(**kwargs)`, so the kwargs must be what
    __init__ takes, and values XCom can store (datetimes and timedeltas included).
    """

    def __init__(self, **kwargs: Any):
        self.task_instance = None
        self.trigger_id: int | None = None

    @abc.abstractmethod
    def serialize(self) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    @abc.abstractmethod
    def run(self) -> AsyncIterator[TriggerEvent]:
        raise NotImplementedError

    async def cleanup(self) -> None:  # noqa: B027 (an optional hook, not abstract)
        """Called when the trigger stops running, whether it fired or not."""

    def __repr__(self) -> str:
        classpath, kwargs = self.serialize()
        args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        return f"<{classpath} {args}>"

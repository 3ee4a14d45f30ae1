"""DateTimeTrigger and TimeDeltaTrigger: fire at a moment (what the *Async time sensors defer on)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pendulum

from slipstream.sdk.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent


class DateTimeTrigger(BaseTrigger):
    def __init__(self, moment: dt.datetime, *, end_from_trigger: bool = False):
        super().__init__()
        if not isinstance(moment, dt.datetime):
            raise TypeError(f"Expected datetime.datetime type for moment. Got {type(moment)}")
        if moment.tzinfo is None:
            raise ValueError("You cannot pass naive datetimes")
        self.moment = pendulum.instance(moment).in_timezone("UTC")
        self.end_from_trigger = end_from_trigger

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "slipstream.sdk.triggers.temporal.DateTimeTrigger",
            {"moment": self.moment, "end_from_trigger": self.end_from_trigger},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # Sleep in steps of at most an hour, so a clock change is noticed; then to the exact moment.
        while True:
            remaining = (self.moment - pendulum.now("UTC")).total_seconds()
            if remaining <= 0:
                break
            await asyncio.sleep(min(remaining, 3600.0))
        if self.end_from_trigger:
            yield TaskSuccessEvent()
        else:
            yield TriggerEvent(self.moment)


class TimeDeltaTrigger(DateTimeTrigger):
    """Fires `delta` after it was created (serialized as the DateTimeTrigger of that moment)."""

    def __init__(self, delta: dt.timedelta, *, end_from_trigger: bool = False):
        super().__init__(moment=pendulum.now("UTC") + delta, end_from_trigger=end_from_trigger)

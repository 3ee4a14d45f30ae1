"""WorkflowTrigger: fires when another DAG's tasks (or runs) at given dates reach allowed, failed or
skipped states: ExternalTaskSensor(deferrable=True) waits on it instead of poking."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from slipstream.sdk.triggers.base import BaseTrigger, TriggerEvent
from slipstream.sdk.triggers.dag_state import DagStateTrigger


class WorkflowTrigger(BaseTrigger):
    def __init__(
        self,
        external_dag_id: str,
        execution_dates: list[dt.datetime],
        external_task_ids: list[str] | None = None,
        external_task_group_id: str | None = None,
        allowed_states: list[str] | None = None,
        failed_states: list[str] | None = None,
        skipped_states: list[str] | None = None,
        poke_interval: float = 2.0,
        expected_count: int | None = None,
        **kwargs: Any,
    ):
        super().__init__()
        self.external_dag_id = external_dag_id
        self.execution_dates = list(execution_dates)
        self.external_task_ids = list(external_task_ids) if external_task_ids else None
        self.external_task_group_id = external_task_group_id
        self.allowed_states = list(allowed_states or ["success"])
        self.failed_states = list(failed_states or [])
        self.skipped_states = list(skipped_states or [])
        self.poke_interval = poke_interval
        self.expected_count = expected_count  # instances that must be allowed (a group's size x dates)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "slipstream.sdk.triggers.external_task.WorkflowTrigger",
            {
                "external_dag_id": self.external_dag_id,
                "execution_dates": self.execution_dates,
                "external_task_ids": self.external_task_ids,
                "external_task_group_id": self.external_task_group_id,
                "allowed_states": self.allowed_states,
                "failed_states": self.failed_states,
                "skipped_states": self.skipped_states,
                "poke_interval": self.poke_interval,
                "expected_count": self.expected_count,
            },
        )

    def _count(self, states: list[str]) -> int:
        from slipstream.sdk.sensors.external_task import count_in_states

        return count_in_states(
            self.external_dag_id, self.external_task_ids, self.external_task_group_id, self.execution_dates, states
        )

    def _expected(self) -> int:
        if self.expected_count is not None:
            return self.expected_count
        per_date = len(self.external_task_ids) if self.external_task_ids else 1
        return per_date * len(self.execution_dates)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            if self.failed_states and await asyncio.to_thread(self._count, self.failed_states) > 0:
                yield TriggerEvent({"status": "failed"})
                return
            if self.skipped_states and await asyncio.to_thread(self._count, self.skipped_states) > 0:
                yield TriggerEvent({"status": "skipped"})
                return
            if await asyncio.to_thread(self._count, self.allowed_states) >= self._expected():
                yield TriggerEvent({"status": "success"})
                return
            await asyncio.sleep(self.poke_interval)


__all__ = ["DagStateTrigger", "WorkflowTrigger"]

"""DagStateTrigger: fires when DAG runs reach one of the given states (a deferrable wait on another DAG)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from slipstream.sdk.triggers.base import BaseTrigger, TriggerEvent


def _states_of(dag_id: str, run_ids: list[str]) -> list[str | None]:
    from sqlalchemy import select

    from slipstream.sdk import metastore
    from slipstream.storage.models import DagRun

    with metastore.read_session() as session:
        rows = dict(
            session.execute(
                select(DagRun.run_id, DagRun.state).where(DagRun.dag_id == dag_id, DagRun.run_id.in_(run_ids))
            ).all()
        )
    return [rows.get(run_id) for run_id in run_ids]


class DagStateTrigger(BaseTrigger):
    def __init__(self, dag_id: str, run_ids: list[str], states: list[str], poll_interval: float = 5.0):
        super().__init__()
        self.dag_id = dag_id
        self.run_ids = list(run_ids)
        self.states = list(states)
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "slipstream.sdk.triggers.dag_state.DagStateTrigger",
            {
                "dag_id": self.dag_id,
                "run_ids": self.run_ids,
                "states": self.states,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            # The database call is blocking: off the event loop, so other triggers keep running.
            states = await asyncio.to_thread(_states_of, self.dag_id, self.run_ids)
            if all(state in self.states for state in states):
                yield TriggerEvent({"dag_id": self.dag_id, "run_ids": self.run_ids, "state": states[-1]})
                return
            await asyncio.sleep(self.poll_interval)

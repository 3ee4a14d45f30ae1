"""TriggerDagRunOperator (task-model-semantics §14): start a run of another DAG, optionally wait for it.

The run is created by the same service the REST API uses (slipstream.services.dag_runs), so it is
validated (the target's Params) and stored exactly as an API trigger would be.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pendulum

from slipstream.sdk.exceptions import (
    AirflowException,
    AirflowSkipException,
    DagNotFound,
    DagRunAlreadyExists,
    ParamValidationError,
)
from slipstream.sdk.operators import BaseOperator

XCOM_LOGICAL_DATE_ISO = "trigger_logical_date_iso"
XCOM_RUN_ID = "trigger_run_id"


class TriggerDagRunOperator(BaseOperator):
    template_fields = (
        "trigger_dag_id",
        "trigger_run_id",
        "logical_date",
        "conf",
        "wait_for_completion",
        "skip_when_already_exists",
    )
    template_fields_renderers = {"conf": "py"}
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        trigger_dag_id: str,
        trigger_run_id: str | None = None,
        conf: dict | None = None,
        logical_date: str | dt.datetime | None = None,
        reset_dag_run: bool = False,
        wait_for_completion: bool = False,
        poke_interval: int = 60,
        allowed_states: list[str] | None = None,
        failed_states: list[str] | None = None,
        skip_when_already_exists: bool = False,
        deferrable: bool = False,
        execution_date: str | dt.datetime | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = conf
        self.reset_dag_run = reset_dag_run
        self.wait_for_completion = wait_for_completion
        self.poke_interval = poke_interval
        self.allowed_states = [str(s) for s in allowed_states] if allowed_states else ["success"]
        self.failed_states = [str(s) for s in failed_states] if failed_states else ["failed"]
        self.skip_when_already_exists = skip_when_already_exists
        self.deferrable = deferrable
        if execution_date is not None and logical_date is None:
            logical_date = execution_date  # Airflow's deprecated name for the same argument
        if logical_date is not None and not isinstance(logical_date, (str, dt.datetime)):
            raise TypeError(
                "Expected str or datetime.datetime type for parameter 'logical_date'. "
                f"Got {type(logical_date).__name__}"
            )
        self.logical_date = logical_date

    def _parsed_logical_date(self) -> dt.datetime:
        if isinstance(self.logical_date, dt.datetime):
            value = self.logical_date
        elif isinstance(self.logical_date, str) and self.logical_date:
            value = pendulum.parse(self.logical_date)
        else:
            return pendulum.now("UTC")  # with microseconds, as Airflow's default
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)

    def execute(self, context: dict[str, Any]) -> None:
        logical_date = self._parsed_logical_date()
        try:
            json.dumps(self.conf)
        except TypeError:
            raise AirflowException("conf parameter should be JSON Serializable") from None
        run_id = self.trigger_run_id or f"manual__{logical_date.isoformat()}"
        try:
            run_id = self._trigger(run_id, logical_date)
        except DagRunAlreadyExists as exc:
            if self.reset_dag_run:
                run_id, logical_date = self._reset(run_id, logical_date)
                print(f"Clearing {self.trigger_dag_id} on {logical_date}", flush=True)
            elif self.skip_when_already_exists:
                raise AirflowSkipException(
                    "Skipping due to skip_when_already_exists is set to True and DagRunAlreadyExists"
                ) from exc
            else:
                raise
        ti = context["ti"]
        ti.xcom_push(key=XCOM_LOGICAL_DATE_ISO, value=logical_date.isoformat())
        ti.xcom_push(key=XCOM_RUN_ID, value=run_id)
        if not self.wait_for_completion:
            return
        if self.deferrable:
            from slipstream.sdk.triggers.dag_state import DagStateTrigger

            self.defer(
                trigger=DagStateTrigger(
                    dag_id=self.trigger_dag_id,
                    run_ids=[run_id],
                    states=[*self.failed_states, *self.allowed_states],
                    poll_interval=self.poke_interval,
                ),
                method_name="execute_complete",
            )
        while True:
            print(
                f"Waiting for {self.trigger_dag_id} on {logical_date} to become allowed state "
                f"{self.allowed_states} ...",
                flush=True,
            )
            time.sleep(self.poke_interval)
            state = _run_state(self.trigger_dag_id, run_id)
            if self._finished(state):
                return

    def _finished(self, state: str | None) -> bool:
        if state in self.failed_states:
            raise AirflowException(f"{self.trigger_dag_id} failed with failed states {state}")
        if state in self.allowed_states:
            print(f"{self.trigger_dag_id} finished with allowed state {state}", flush=True)
            return True
        return False

    def execute_complete(self, context: dict[str, Any], event: Any = None) -> None:
        state = (event or {}).get("state") if isinstance(event, dict) else None
        if state is None:
            state = _run_state(self.trigger_dag_id, context["ti"].xcom_pull(key=XCOM_RUN_ID))
        if not self._finished(state):
            raise AirflowException(
                f"{self.trigger_dag_id} return {state} which is not in {self.failed_states} or {self.allowed_states}"
            )

    def _trigger(self, run_id: str, logical_date: dt.datetime) -> str:
        from slipstream.errors import BadRequest, NotFound
        from slipstream.sdk import runtime
        from slipstream.services.dag_runs import TriggerRequest, duplicate_message, has_duplicate, trigger_dag_run

        with runtime.write_session() as session:
            if has_duplicate(session, self.trigger_dag_id, run_id, logical_date):
                raise DagRunAlreadyExists(duplicate_message(self.trigger_dag_id, logical_date, run_id))
            request = TriggerRequest(
                run_id=run_id, conf=dict(self.conf or {}), execution_date=logical_date, replace_microseconds=False
            )
            try:
                run, _ = trigger_dag_run(session, self.trigger_dag_id, request)
            except NotFound:
                raise DagNotFound(f"Dag id {self.trigger_dag_id} not found") from None
            except BadRequest as exc:
                if "already exists" in str(exc):
                    raise DagRunAlreadyExists(str(exc)) from None
                raise ParamValidationError(str(exc)) from None
            print(f"Triggered DAG {self.trigger_dag_id} run {run.run_id} at {logical_date}", flush=True)
            return run.run_id

    def _reset(self, run_id: str, logical_date: dt.datetime) -> tuple[str, dt.datetime]:
        """Clear the existing run (found by its id, or else its logical date) and queue it again."""
        from sqlalchemy import or_, select

        from slipstream.sdk import runtime
        from slipstream.services.clearing import clear_dag_run
        from slipstream.storage.models import DagRun

        with runtime.write_session() as session:
            row = session.execute(
                select(DagRun.run_id, DagRun.execution_date)
                .where(
                    DagRun.dag_id == self.trigger_dag_id,
                    or_(DagRun.run_id == run_id, DagRun.execution_date == logical_date),
                )
                .order_by((DagRun.run_id == run_id).desc())
                .limit(1)
            ).first()
            clear_dag_run(session, self.trigger_dag_id, row.run_id)
        return row.run_id, row.execution_date


def _run_state(dag_id: str, run_id: str) -> str | None:
    from sqlalchemy import select

    from slipstream.sdk import runtime
    from slipstream.storage.models import DagRun

    with runtime.read_session() as session:
        return session.scalar(select(DagRun.state).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))

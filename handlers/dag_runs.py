"""Triggering, listing and reading DAG runs."""

from __future__ import annotations

from handlers._audit import actor
from handlers._dispatch import database_read
from handlers._responses import json_body_response, json_response
from handlers._unit_of_work import group_committed, reading
from slipstream.dates import parse_execution_date
from slipstream.services import audit, dag_runs


async def trigger_dag_run(dag_id: str, body):
    request = dag_runs.parse_trigger_body(body)
    who = actor()

    def create(session):
        run, execution_date = dag_runs.trigger_dag_run(session, dag_id, request)
        when = execution_date.isoformat()
        audit.record(
            session,
            audit.DAG_RUN_TRIGGER,
            dag_id=dag_id,
            target=run.run_id,
            extra={"run_id": run.run_id, "execution_date": when},
            **who,
        )
        return run, execution_date, when

    run, execution_date, when = await group_committed(create)
    message = f"Created {dag_runs.dag_run_repr(run, execution_date)}"
    return json_response({"execution_date": when, "message": message, "run_id": run.run_id})


@database_read
def list_dag_runs(dag_id: str, state: str | None = None):
    with reading() as session:
        return json_body_response(dag_runs.list_dag_runs_json(session, dag_id, state))


@database_read
def get_dag_run_state(dag_id: str, execution_date: str):
    when = parse_execution_date(execution_date)
    with reading() as session:
        return json_response({"state": dag_runs.get_dag_run_state(session, dag_id, when)})

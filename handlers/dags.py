"""DAG-level endpoints: task info, source code, pause flag, delete."""

from __future__ import annotations

from handlers._audit import actor
from handlers._dispatch import database_read
from handlers._responses import json_response, text_response
from handlers._unit_of_work import reading, writing
from slipstream.services import audit, dag_code, dag_deletion, pausing, task_views


@database_read
def get_task(dag_id: str, task_id: str):
    with reading() as session:
        return json_response(task_views.get_task_attributes(session, dag_id, task_id))


@database_read
def get_dag_code(dag_id: str):
    with reading() as session:
        source = dag_code.get_dag_source(session, dag_id)
    return text_response(source)


def set_dag_paused(dag_id: str, paused: str):
    pause = paused.lower() == "true"
    with writing() as session:
        pausing.set_paused(session, dag_id, pause)
        audit.record(session, audit.DAG_PAUSE if pause else audit.DAG_UNPAUSE, dag_id=dag_id, **actor())
    return json_response({"response": "ok"})


@database_read
def get_dag_paused(dag_id: str):
    with reading() as session:
        return json_response({"is_paused": pausing.is_paused(session, dag_id)})


def delete_dag(dag_id: str):
    with writing() as session:
        count = dag_deletion.delete_dag(session, dag_id)
        audit.record(session, audit.DAG_DELETE, dag_id=dag_id, extra={"count": count}, **actor())
    return json_response({"count": count, "message": f"Removed {count} record(s)"})


def delete_dag_alias(dag_id: str):
    return delete_dag(dag_id)

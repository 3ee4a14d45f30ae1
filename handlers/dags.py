"""DAG-level endpoints: task info, source code, pause flag, delete."""

from __future__ import annotations

from handlers._audit import actor
from handlers._dispatch import database_read
from handlers._responses import json_response, text_response
from handlers._unit_of_work import group_committed, reading
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


async def set_dag_paused(dag_id: str, paused: str):
    pause = paused.lower() == "true"
    who = actor()

    def set_flag(session):
        pausing.set_paused(session, dag_id, pause)
        audit.record(session, audit.DAG_PAUSE if pause else audit.DAG_UNPAUSE, dag_id=dag_id, **who)

    await group_committed(set_flag)
    return json_response({"response": "ok"})


@database_read
def get_dag_paused(dag_id: str):
    with reading() as session:
        return json_response({"is_paused": pausing.is_paused(session, dag_id)})


async def delete_dag(dag_id: str):
    who = actor()

    def delete(session):
        count = dag_deletion.delete_dag(session, dag_id)
        audit.record(session, audit.DAG_DELETE, dag_id=dag_id, extra={"count": count}, **who)
        return count

    count = await group_committed(delete)
    return json_response({"count": count, "message": f"Removed {count} record(s)"})


async def delete_dag_alias(dag_id: str):
    return await delete_dag(dag_id)

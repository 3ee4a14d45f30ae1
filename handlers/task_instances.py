"""GET a task instance."""

from __future__ import annotations

from handlers._dispatch import database_read
from handlers._responses import json_response
from handlers._unit_of_work import reading
from slipstream.dates import parse_execution_date
from slipstream.services import task_views


@database_read
def get_task_instance(dag_id: str, execution_date: str, task_id: str):
    when = parse_execution_date(execution_date)
    with reading() as session:
        return json_response(task_views.get_task_instance(session, dag_id, when, task_id))

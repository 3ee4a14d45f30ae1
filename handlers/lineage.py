"""GET lineage of a run."""

from __future__ import annotations

from handlers._dispatch import database_read
from handlers._responses import json_response
from handlers._unit_of_work import reading
from slipstream.dates import parse_execution_date
from slipstream.services import lineage


@database_read
def get_lineage(dag_id: str, execution_date: str):
    when = parse_execution_date(execution_date)
    with reading() as session:
        return json_response(lineage.get_lineage(session, dag_id, when))

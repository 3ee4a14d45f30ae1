"""/eventLogs: the audit log, filtered, ordered and paginated as Airflow's event logs."""

from __future__ import annotations

from handlers._dispatch import database_read
from handlers._responses import json_response
from handlers._unit_of_work import reading
from handlers.v1._bodies import page_offset, refuse_nul
from handlers.v1._dates import utc_datetime
from handlers.v1._pagination import ordering, page_limit
from slipstream.api.v1_problems import not_found
from slipstream.services import audit


def _names(value: str | None) -> list[str] | None:
    return value.split(",") if value else None


@refuse_nul
@database_read
def get_event_logs(
    limit: int | None = None,
    offset: int = 0,
    order_by: str = "event_log_id",
    dag_id: str | None = None,
    task_id: str | None = None,
    run_id: str | None = None,
    map_index: int | None = None,
    try_number: int | None = None,
    event: str | None = None,
    owner: str | None = None,
    before: str | None = None,
    after: str | None = None,
    included_events: str | None = None,
    excluded_events: str | None = None,
):
    column, descending = ordering(order_by, audit.EVENT_LOG_ORDERING, "event_log_id")
    filters = audit.EventLogFilter(
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        map_index=map_index,
        try_number=try_number,
        owner=owner,
        event=event,
        included_events=_names(included_events),
        excluded_events=_names(excluded_events),
        before=utc_datetime(before, name="before"),
        after=utc_datetime(after, name="after"),
    )
    with reading() as session:
        entries, total = audit.list_event_logs(
            session,
            filters,
            order_by=column,
            descending=descending,
            limit=page_limit(limit),
            offset=page_offset(offset),
        )
        return json_response({"event_logs": [audit.event_log_to_json(e) for e in entries], "total_entries": total})


@database_read
def get_event_log(event_log_id: int):
    if not 0 < event_log_id < 2**31:  # no row has it, and PostgreSQL refuses to compare an INTEGER with it
        raise not_found("Event Log not found")
    with reading() as session:
        entry = audit.get_event_log(session, event_log_id)
        if entry is None:
            raise not_found("Event Log not found")
        return json_response(audit.event_log_to_json(entry))

"""XCom entries of task instances: the list (with `~` wildcards) and one entry with its value."""

from __future__ import annotations

from handlers._dispatch import database_read
from handlers._responses import json_response
from handlers._unit_of_work import reading
from handlers.v1._bodies import page_offset, refuse_nul
from handlers.v1._pagination import page_limit
from slipstream.api.http import current_settings
from slipstream.api.v1_problems import bad_request, not_found
from slipstream.services import xcom


@refuse_nul
@database_read
def get_xcom_entries(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int | None = None,
    xcom_key: str | None = None,
    limit: int | None = None,
    offset: int = 0,
):
    filters = xcom.XComFilter(dag_id, dag_run_id, task_id, map_index=map_index, key=xcom_key)
    with reading() as session:
        entries, total = xcom.list_entries(session, filters, limit=page_limit(limit), offset=page_offset(offset))
    return json_response({"total_entries": total, "xcom_entries": entries})


@refuse_nul
@database_read
def get_xcom_entry(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    xcom_key: str,
    map_index: int = -1,
    deserialize: bool = False,
    stringify: bool = True,
):
    if deserialize and not current_settings().enable_xcom_deserialize_support:
        raise bad_request("XCom deserialization is disabled in configuration.")
    with reading() as session:
        found = xcom.get_entry(
            session, dag_id=dag_id, dag_run_id=dag_run_id, task_id=task_id, key=xcom_key, map_index=map_index
        )
    if found is None:
        raise not_found("XCom entry not found")
    entry, text = found
    try:
        entry["value"] = xcom.rendered_value(text, deserialize=deserialize, stringify=stringify)
    except (ImportError, TypeError, ValueError) as exc:
        raise bad_request(f"The XCom value cannot be deserialized: {exc}") from None
    return json_response(entry)

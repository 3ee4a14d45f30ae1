"""/importErrors: DAG files whose last import failed, by id."""

from __future__ import annotations

from starlette.exceptions import HTTPException

from handlers._dispatch import database_read
from handlers._responses import json_response
from handlers._unit_of_work import reading
from handlers.v1._bodies import page_offset
from handlers.v1._pagination import ordering, page_limit
from slipstream.api.v1_problems import not_found
from slipstream.services import dags

_MAX_ID = 2**31 - 1  # import_error.id is an INTEGER: PostgreSQL refuses to compare it with more


@database_read
def get_import_errors(limit: int | None = None, offset: int = 0, order_by: str | None = None):
    limit = page_limit(limit)
    column, descending = ordering(order_by, dags.IMPORT_ERROR_SORTABLE, "import_error_id")
    with reading() as session:
        rows, total = dags.page_import_errors(
            session, order_column=column, descending=descending, limit=limit, offset=page_offset(offset)
        )
        shown = [dags.import_error_json(row) for row in rows]
    return json_response({"import_errors": shown, "total_entries": total})


@database_read
def get_import_error(import_error_id: str):
    # Airflow routes only integers here (/importErrors/abc is an unknown path); ids past BIGINT cannot exist.
    if not import_error_id.isascii() or not import_error_id.isdigit():
        raise HTTPException(status_code=404)
    number = int(import_error_id)
    with reading() as session:
        row = dags.get_import_error(session, number) if number <= _MAX_ID else None
        if row is None:
            raise not_found("Import error not found", f"The ImportError with import_error_id: `{number}` was not found")
        shown = dags.import_error_json(row)
    return json_response(shown)

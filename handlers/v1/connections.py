"""/connections: list, get, create, patch, delete, and the connection test (403 unless enabled)."""

from __future__ import annotations

from starlette.responses import Response

from handlers._dispatch import database_read
from handlers._responses import json_response
from handlers._unit_of_work import group_committed, reading
from handlers.v1._action_logging import action_logging
from handlers.v1._bodies import page_offset, refuse_nul, schema_errors, update_mask_fields
from handlers.v1._pagination import ordering, page_limit
from slipstream.api.http import current_settings
from slipstream.api.v1_problems import V1Problem, already_exists, bad_request, not_found
from slipstream.errors import Conflict
from slipstream.sdk.connections import Connection
from slipstream.services import connection_testing, connections
from slipstream.storage.encryption import cipher_for

# The schema's fields by their API names, in Airflow's order.
_FIELDS = ("connection_id", "conn_type", "description", "host", "login", "schema", "port", "password", "extra")
_REQUIRED = ("connection_id", "conn_type")
TESTING_DISABLED = (
    "Testing connections is disabled in Airflow configuration. Contact your deployment admin to enable it."
)


def _cipher():
    return cipher_for(current_settings())


def _extra_words() -> list[str]:
    return [w for w in current_settings().sensitive_var_conn_names.split(",") if w.strip()]


def _not_found(connection_id: str) -> V1Problem:
    return not_found("Connection not found", f"The Connection with connection_id: `{connection_id}` was not found")


def _checked(body: dict, *, partial: bool = False) -> dict:
    problem = schema_errors(body, fields=_FIELDS, required=() if partial else _REQUIRED)
    if problem:
        raise bad_request(problem)
    return body


def _fields(data: dict) -> dict:
    """The body's stored fields (everything but the id)."""
    return {name: value for name, value in data.items() if name in connections.API_FIELDS}


@database_read
def get_connections(limit: int | None = None, offset: int = 0, order_by: str = "id"):
    column, descending = ordering(order_by, connections.ORDERING, "id")
    with reading() as session:
        items = connections.list_connection_items(
            session, order_by=column, descending=descending, limit=page_limit(limit), offset=page_offset(offset)
        )
        total = connections.count_connections(session)
    return json_response({"connections": items, "total_entries": total})


@refuse_nul
@database_read
def get_connection(connection_id: str):
    with reading() as session:
        connection = connections.get_connection(session, connection_id, _cipher())
    if connection is None:
        raise _not_found(connection_id)
    return json_response(connections.connection_to_api_json(connection, extra_words=_extra_words()))


@action_logging("connection.create")
async def post_connection(body: dict):
    data = _checked(body)
    conn_id = data["connection_id"]
    try:
        connections.check_api_conn_id(conn_id)
    except Exception as exc:  # noqa: BLE001 - Airflow answers validate_key's message as it is
        raise bad_request(str(exc)) from None
    cipher = _cipher()

    def create(session):
        return connections.create_api_connection(session, conn_id, _fields(data), cipher)

    try:
        connection = await group_committed(create)
    except Conflict as exc:
        raise already_exists(exc.message, title="Conflict") from None
    return json_response(connections.connection_to_api_json(connection, extra_words=_extra_words()))


@refuse_nul
@action_logging("connection.edit")
async def patch_connection(connection_id: str, body: dict, update_mask: list[str] | None = None):
    data = _checked(body, partial=True)
    mask = update_mask_fields(update_mask)
    cipher = _cipher()

    def patch(session):
        if not connections.connection_exists(session, connection_id):
            raise _not_found(connection_id)
        if data.get("connection_id") and data["connection_id"] != connection_id:
            raise bad_request("The connection_id cannot be updated.")
        selected = data
        if mask:
            for name in mask:
                if name not in data or name in ("connection_id", "conn_id"):
                    raise bad_request(f"'{name}' is unknown or cannot be updated.")
            selected = {name: data[name] for name in mask}
        return connections.patch_api_connection(session, connection_id, _fields(selected), cipher)

    connection = await group_committed(patch)
    return json_response(connections.connection_to_api_json(connection, extra_words=_extra_words()))


@refuse_nul
@action_logging("connection.delete")
async def delete_connection(connection_id: str):
    def delete(session):
        return connections.delete_connection(session, connection_id)

    if not await group_committed(delete):
        raise _not_found(connection_id)
    return Response(status_code=204, media_type="application/json")


async def test_connection(body: dict):
    settings = current_settings()
    if settings.test_connection != "enabled":
        return Response(TESTING_DISABLED, status_code=403, media_type="text/html; charset=utf-8")
    data = _checked(body)
    fields = _fields(data)
    connection = Connection(conn_id=data["connection_id"], **fields)
    status, message = await connection_testing.test_connection(connection, timeout=settings.connection_test_timeout)
    return json_response({"message": message, "status": status})

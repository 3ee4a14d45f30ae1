"""Connections in the metadata database: add, get, delete, list, import and export.

Password and extra are stored Fernet-encrypted (slipstream.storage.encryption). Connections come in and go
out as `slipstream.sdk.connections.Connection`, the object DAG files use. Used by the CLI and the sdk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipstream.errors import BadRequest, Conflict
from slipstream.scheduler.masking import redact_by_key
from slipstream.sdk.connections import Connection, sanitize_conn_id
from slipstream.sdk.exceptions import AirflowException
from slipstream.storage.encryption import SecretCipher
from slipstream.storage.models import Connection as ConnectionRow

ON_EXISTING = ("overwrite", "fail", "skip")
_TEXT_FIELDS = ("conn_type", "description", "host", "login", "password", "schema", "extra")


def check_conn_id(conn_id: Any) -> str:
    if sanitize_conn_id(conn_id) is None:
        raise BadRequest(f"Invalid conn_id {conn_id!r}: at most 250 characters among letters, digits and _#!()-.:/\\")
    return conn_id


def parse_connection(
    conn_id: str, *, uri: str | None = None, json_text: str | dict | None = None, **fields: Any
) -> Connection:
    """A Connection from one of the three forms the CLI and import files use, with a clear error."""
    check_conn_id(conn_id)
    given = {k: v for k, v in fields.items() if v is not None}
    forms = sum(bool(x) for x in (uri, json_text, given))
    if uri and json_text:
        raise BadRequest("Give the connection as a URI or as JSON, not both")
    if forms > 1:
        raise BadRequest(
            "You must create an object using the URI or individual values (conn_type, host, login, "
            "password, schema, port or extra).You can't mix these two ways to create this object."
        )
    try:
        if uri:
            connection = Connection(conn_id=conn_id, uri=uri)
        elif json_text:
            connection = Connection.from_json(json_text, conn_id=conn_id)
        else:
            connection = Connection(conn_id=conn_id, **given)
    except (AirflowException, ValueError, TypeError) as exc:
        raise BadRequest(f"Invalid connection {conn_id}: {exc}") from exc
    if not connection.conn_type:
        raise BadRequest(f"Invalid connection {conn_id}: a conn_type is required")
    if connection.port is not None and not isinstance(connection.port, int):
        try:
            connection.port = int(connection.port)
        except ValueError:
            raise BadRequest(f"Expected integer value for `port`, but got {connection.port!r} instead.") from None
    for name in _TEXT_FIELDS:
        value = getattr(connection, name)
        if value is not None and "\x00" in str(value):
            raise BadRequest(f"Invalid connection {conn_id}: {name} can't contain NUL characters")
    return connection


def _what(conn_id: str) -> str:
    return f"connection '{conn_id}'"


def _from_row(row: ConnectionRow, cipher: SecretCipher) -> Connection:
    what = _what(row.conn_id)
    return Connection(
        conn_id=row.conn_id,
        conn_type=row.conn_type,
        description=row.description,
        host=row.host,
        login=row.login,
        password=cipher.decrypt(row.password, what=what),
        schema=row.schema,
        port=row.port,
        extra=cipher.decrypt(row.extra, what=what),
    )


def get_connection(session: Session, conn_id: str, cipher: SecretCipher) -> Connection | None:
    row = session.scalar(select(ConnectionRow).where(ConnectionRow.conn_id == conn_id))
    return None if row is None else _from_row(row, cipher)


def connection_exists(session: Session, conn_id: str) -> bool:
    return session.scalar(select(ConnectionRow.id).where(ConnectionRow.conn_id == conn_id)) is not None


def add_connection(session: Session, connection: Connection, cipher: SecretCipher) -> None:
    """Insert; Conflict if the conn_id is taken (Airflow's `connections add` refuses too)."""
    check_conn_id(connection.conn_id)
    try:
        with session.begin_nested():
            session.add(_to_row(connection, cipher, ConnectionRow(conn_id=connection.conn_id)))
    except IntegrityError:
        raise Conflict(f"A connection with `conn_id`={connection.conn_id} already exists.") from None


def replace_connection(session: Session, connection: Connection, cipher: SecretCipher) -> bool:
    """Insert or overwrite every field; True if it existed."""
    row = session.scalar(select(ConnectionRow).where(ConnectionRow.conn_id == connection.conn_id))
    if row is None:
        add_connection(session, connection, cipher)
        return False
    _to_row(connection, cipher, row)
    session.flush()
    return True


def _to_row(connection: Connection, cipher: SecretCipher, row: ConnectionRow) -> ConnectionRow:
    row.conn_type = connection.conn_type
    row.description = connection.description
    row.host = connection.host
    row.login = connection.login
    row.password = cipher.encrypt(connection.password)
    row.schema = connection.schema
    row.port = connection.port
    row.extra = cipher.encrypt(connection.extra)
    return row


def delete_connection(session: Session, conn_id: str) -> int:
    return session.execute(delete(ConnectionRow).where(ConnectionRow.conn_id == conn_id)).rowcount


def list_connections(session: Session, cipher: SecretCipher) -> list[Connection]:
    rows = session.scalars(select(ConnectionRow).order_by(ConnectionRow.conn_id))
    return [_from_row(row, cipher) for row in rows]


def connection_summary(connection: Connection) -> dict[str, Any]:
    """What may be shown or logged: every field but the password, and the extra only by its keys."""
    try:
        extra = json.loads(connection.extra) if connection.extra else {}
    except json.JSONDecodeError:
        extra = {}
    return {
        "conn_id": connection.conn_id,
        "conn_type": connection.conn_type,
        "description": connection.description,
        "host": connection.host,
        "login": connection.login,
        "schema": connection.schema,
        "port": connection.port,
        "password_set": bool(connection.password),
        "extra_keys": sorted(extra) if isinstance(extra, dict) else [],
    }


def connection_fields(connection: Connection) -> dict[str, Any]:
    """Every field in clear, the import/export JSON form (extra as an object when it is JSON)."""
    extra: Any = connection.extra
    if extra:
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError:
            pass
    return {
        "conn_type": connection.conn_type,
        "description": connection.description,
        "host": connection.host,
        "login": connection.login,
        "password": connection.password,
        "schema": connection.schema,
        "port": connection.port,
        "extra": extra,
    }


def import_connections(
    session: Session, data: Any, cipher: SecretCipher, *, on_existing: str = "fail"
) -> dict[str, list[str]]:
    """Airflow's `connections import` JSON: {conn_id: {fields} or "uri"}. Returns created/updated/skipped ids."""
    if on_existing not in ON_EXISTING:
        raise BadRequest(f"on_existing must be one of {', '.join(ON_EXISTING)}, got {on_existing!r}")
    if not isinstance(data, dict):
        raise BadRequest("A connections file must hold a JSON object of conn_id: connection")
    result: dict[str, list[str]] = {"created": [], "updated": [], "skipped": []}
    for conn_id, item in data.items():
        if isinstance(item, str):
            connection = parse_connection(conn_id, uri=item)
        elif isinstance(item, dict):
            connection = parse_connection(conn_id, json_text={k: v for k, v in item.items() if v is not None})
        else:
            raise BadRequest(f"Connection {conn_id} must be a URI string or an object of fields")
        if connection_exists(session, conn_id):
            if on_existing == "fail":
                raise Conflict(f"Could not import connection {conn_id}: connection already exists.")
            if on_existing == "skip":
                result["skipped"].append(conn_id)
                continue
        existed = replace_connection(session, connection, cipher)
        result["updated" if existed else "created"].append(conn_id)
    return result


def export_connections(session: Session, cipher: SecretCipher) -> dict[str, dict[str, Any]]:
    return {c.conn_id: connection_fields(c) for c in list_connections(session, cipher)}


# --- the stable API (/api/v1/connections) ---------------------------------------------------------
# Airflow's validate_key for ids the API creates: stricter than what the CLI and import files accept.
_API_KEY = re.compile(r"^[\w.-]+$")
API_CONN_ID_MAX = 200
# order_by names -> columns; none of them is encrypted.
ORDERING = {
    "connection_id": ConnectionRow.conn_id,
    "conn_type": ConnectionRow.conn_type,
    "description": ConnectionRow.description,
    "host": ConnectionRow.host,
    "port": ConnectionRow.port,
    "id": ConnectionRow.id,
}
# The fields the API may set, by the API's names (connection_id is the conn_id).
API_FIELDS = ("conn_type", "description", "host", "login", "schema", "port", "password", "extra")


def check_api_conn_id(conn_id: Any) -> str:
    if not isinstance(conn_id, str) or not conn_id:
        raise BadRequest("The key has to be a non-empty string")
    if len(conn_id) > API_CONN_ID_MAX:
        raise BadRequest(f"The key has to be less than {API_CONN_ID_MAX} characters")
    if not _API_KEY.match(conn_id):
        raise BadRequest(
            f"The key {conn_id!r} has to be made of alphanumeric characters, dashes, dots and underscores exclusively"
        )
    return conn_id


# Bounded columns: PostgreSQL refuses a longer value (a 500 otherwise).
_FIELD_LENGTHS = {"conn_type": 500, "host": 500, "schema": 500}


def _check_api_fields(conn_id: str, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if isinstance(value, str) and "\x00" in value:
            raise BadRequest(f"Invalid connection {conn_id}: {name} can't contain NUL characters")
        limit = _FIELD_LENGTHS.get(name)
        if limit and isinstance(value, str) and len(value) > limit:
            raise BadRequest(f"Invalid connection {conn_id}: {name} can't be more than {limit} characters")
    if "conn_type" in fields and not fields["conn_type"]:
        raise BadRequest(f"Invalid connection {conn_id}: a conn_type is required")
    port = fields.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 2**31):
        raise BadRequest(f"Invalid connection {conn_id}: port must be an integer from 0 to 2147483647")


def count_connections(session: Session) -> int:
    return session.scalar(select(func.count(ConnectionRow.id))) or 0


def list_connection_items(
    session: Session, *, order_by: Any, descending: bool, limit: int, offset: int
) -> list[dict[str, Any]]:
    """One page of the API's connection items (no password, no extra: nothing to decrypt)."""
    statement = select(
        ConnectionRow.conn_id,
        ConnectionRow.conn_type,
        ConnectionRow.description,
        ConnectionRow.host,
        ConnectionRow.login,
        ConnectionRow.port,
        ConnectionRow.schema,
    )
    key = order_by.desc() if descending else order_by.asc()
    tie = ConnectionRow.id.desc() if descending else ConnectionRow.id.asc()
    rows = session.execute(statement.order_by(key, tie).offset(offset).limit(limit))
    return [
        {
            "conn_type": conn_type,
            "connection_id": conn_id,
            "description": description,
            "host": host,
            "login": login,
            "port": port,
            "schema": schema,
        }
        for conn_id, conn_type, description, host, login, port, schema in rows
    ]


def redacted_extra(extra: str | None, *, extra_words: Iterable[str] = ()) -> str | None:
    """Airflow's answer for `extra`: JSON with every value under a sensitive key as ***, re-serialised;
    text that is not JSON as it is (nothing to redact by key)."""
    if extra is None:
        return None
    try:
        parsed = json.loads(extra)
    except json.JSONDecodeError:
        return extra
    return json.dumps(redact_by_key(parsed, extra_words=extra_words))


def connection_to_api_json(connection: Connection, *, extra_words: Iterable[str] = ()) -> dict[str, Any]:
    """The API's Connection object: never the password."""
    return {
        "conn_type": connection.conn_type,
        "connection_id": connection.conn_id,
        "description": connection.description,
        "extra": redacted_extra(connection.extra, extra_words=extra_words),
        "host": connection.host,
        "login": connection.login,
        "port": connection.port,
        "schema": connection.schema,
    }


def create_api_connection(session: Session, conn_id: str, fields: dict[str, Any], cipher: SecretCipher) -> Connection:
    """A new connection from the API's fields; Conflict (Airflow's message) if the id is taken."""
    check_api_conn_id(conn_id)
    _check_api_fields(conn_id, fields)
    if connection_exists(session, conn_id):
        raise Conflict(f"Connection already exist. ID: {conn_id}")
    connection = Connection(conn_id=conn_id, **{k: v for k, v in fields.items() if k in API_FIELDS})
    try:
        with session.begin_nested():
            session.add(_to_row(connection, cipher, ConnectionRow(conn_id=conn_id)))
    except IntegrityError:
        raise Conflict(f"Connection already exist. ID: {conn_id}") from None
    return connection


def patch_api_connection(session: Session, conn_id: str, fields: dict[str, Any], cipher: SecretCipher) -> Connection:
    """Set the given fields (API names) of an existing connection, keeping the others; None if there is none."""
    row = session.scalar(select(ConnectionRow).where(ConnectionRow.conn_id == conn_id))
    if row is None:
        return None
    _check_api_fields(conn_id, fields)
    for name, value in fields.items():
        if name in ("password", "extra"):
            setattr(row, name, cipher.encrypt(value))
        elif name in API_FIELDS:
            setattr(row, name, value)
    session.flush()
    return _from_row(row, cipher)

"""Variables in the metadata database: set, get, update, delete, list, import and export.

Values are stored Fernet-encrypted (slipstream.storage.encryption); every function here takes the cipher and
works with clear text on its side. Used by the CLI and by `slipstream.sdk.variables.Variable`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipstream.errors import BadRequest, Conflict, NotFound
from slipstream.storage.encryption import SecretCipher
from slipstream.storage.models import ID_LENGTH, Variable

ON_EXISTING = ("overwrite", "fail", "skip")


@dataclass(frozen=True)
class StoredVariable:
    key: str
    value: str | None
    description: str | None


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip():
        raise BadRequest("Variable key shouldn't be empty")
    if len(key) > ID_LENGTH:
        raise BadRequest(f"Variable key can't be more than {ID_LENGTH} characters")
    if any(ord(c) < 32 or c == "\x7f" for c in key):
        raise BadRequest("Variable key can't contain control characters")
    return key


def _what(key: str) -> str:
    return f"variable '{key}'"


def get_variable(session: Session, key: str, cipher: SecretCipher) -> StoredVariable | None:
    row = session.execute(select(Variable.val, Variable.description).where(Variable.key == key)).first()
    if row is None:
        return None
    return StoredVariable(key, cipher.decrypt(row.val, what=_what(key)), row.description)


def variable_exists(session: Session, key: str) -> bool:
    return session.scalar(select(Variable.id).where(Variable.key == key)) is not None


def set_variable(
    session: Session, key: str, value: str, cipher: SecretCipher, *, description: str | None = None
) -> bool:
    """Store `value` under `key`, replacing any row (as Airflow's Variable.set). True if it existed."""
    check_key(key)
    if not isinstance(value, str):
        raise BadRequest(f"Variable value must be a string, got {type(value).__name__}")
    if "\x00" in value or (description and "\x00" in description):
        raise BadRequest(f"Variable {key} can't contain NUL characters")
    token = cipher.encrypt(value)
    for _attempt in range(2):
        # Airflow deletes and inserts: the variable gets a new id (and moves last in the id order).
        existed = session.execute(delete(Variable).where(Variable.key == key)).rowcount > 0
        try:
            with session.begin_nested():
                session.add(Variable(key=key, val=token, description=description))
            return existed
        except IntegrityError:  # created concurrently: replace that row instead
            continue
    raise Conflict(f"Variable {key} is being changed by another writer, try again")


def update_variable(session: Session, key: str, value: str, cipher: SecretCipher) -> None:
    """Change the value of an existing row, keeping its description."""
    row = session.scalar(select(Variable).where(Variable.key == key))
    if row is None:
        raise NotFound(f"Variable {key} does not exist in the Database and cannot be updated.")
    if "\x00" in value:
        raise BadRequest(f"Variable {key} can't contain NUL characters")
    row.val = cipher.encrypt(value)
    session.flush()


def delete_variable(session: Session, key: str) -> int:
    """Rows deleted: 0 or 1."""
    return session.execute(delete(Variable).where(Variable.key == key)).rowcount


def list_variables(session: Session) -> list[tuple[str, str | None]]:
    """(key, description) of every variable, by key; values stay encrypted."""
    return [tuple(row) for row in session.execute(select(Variable.key, Variable.description).order_by(Variable.key))]


UNSET: Any = object()
# The stable API's order_by names (Airflow's `value` is the `val` column).
ORDERING = ("id", "key", "value")


def count_variables(session: Session) -> int:
    return session.scalar(select(func.count(Variable.id))) or 0


def list_variables_page(
    session: Session, cipher: SecretCipher, *, order_by: str, descending: bool, limit: int, offset: int
) -> list[StoredVariable]:
    """One page of variables with their values in clear. Ordered by `id`, `key` or `value`; by value the
    clear text is compared (Airflow orders by the stored, encrypted text, which is no order at all)."""
    if order_by not in ORDERING:
        raise BadRequest(f"Ordering with '{order_by}' is disallowed or the attribute does not exist on the model")
    columns = select(Variable.key, Variable.val, Variable.description)
    if order_by == "value":
        rows = [
            StoredVariable(key, cipher.decrypt(val, what=_what(key)), desc)
            for key, val, desc in session.execute(columns)
        ]
        rows.sort(key=lambda v: (v.value is None, v.value or "", v.key), reverse=descending)
        return rows[offset : offset + limit]
    column = Variable.key if order_by == "key" else Variable.id
    statement = columns.order_by(column.desc() if descending else column.asc()).offset(offset).limit(limit)
    return [
        StoredVariable(key, cipher.decrypt(val, what=_what(key)), desc) for key, val, desc in session.execute(statement)
    ]


def patch_variable(
    session: Session, key: str, cipher: SecretCipher, *, value: Any = UNSET, description: Any = UNSET
) -> StoredVariable:
    """Change the value and/or the description of an existing variable; NotFound if there is none."""
    row = session.scalar(select(Variable).where(Variable.key == key))
    if row is None:
        raise NotFound(f"Variable {key} does not exist")
    if value is not UNSET:
        if not isinstance(value, str):
            raise BadRequest(f"Variable value must be a string, got {type(value).__name__}")
        if "\x00" in value:
            raise BadRequest(f"Variable {key} can't contain NUL characters")
        row.val = cipher.encrypt(value)
    if description is not UNSET:
        if description is not None and (not isinstance(description, str) or "\x00" in description):
            raise BadRequest(f"Variable {key}: the description must be text without NUL characters")
        row.description = description
    session.flush()
    return StoredVariable(key, cipher.decrypt(row.val, what=_what(key)), row.description)


def serialize_value(value: Any) -> str:
    """What Variable.set(serialize_json=True) stores."""
    return json.dumps(value, indent=2)


def import_variables(
    session: Session, data: Any, cipher: SecretCipher, *, on_existing: str = "overwrite"
) -> dict[str, list[str]]:
    """Airflow's `variables import` file: {key: value}, a non-string value stored as JSON, or
    {key: {"value": ..., "description": ...}}. Returns the keys created, updated and skipped."""
    if on_existing not in ON_EXISTING:
        raise BadRequest(f"on_existing must be one of {', '.join(ON_EXISTING)}, got {on_existing!r}")
    if not isinstance(data, dict):
        raise BadRequest("A variables file must hold a JSON object of key: value")
    result: dict[str, list[str]] = {"created": [], "updated": [], "skipped": []}
    for key, item in data.items():
        description = None
        if isinstance(item, dict) and "value" in item and set(item) <= {"value", "description"}:
            item, description = item["value"], item.get("description")
        value = item if isinstance(item, str) else serialize_value(item)
        if variable_exists(session, key):
            if on_existing == "fail":
                raise Conflict(f"Failed to import variables: variable {key} already exists")
            if on_existing == "skip":
                result["skipped"].append(key)
                continue
        existed = set_variable(session, key, value, cipher, description=description)
        result["updated" if existed else "created"].append(key)
    return result


def export_variables(session: Session, cipher: SecretCipher) -> dict[str, Any]:
    """{key: value}, a value holding JSON given as that JSON (as Airflow exports)."""
    exported: dict[str, Any] = {}
    for key, token in session.execute(select(Variable.key, Variable.val).order_by(Variable.key)):
        value = cipher.decrypt(token, what=_what(key))
        try:
            exported[key] = json.loads(value) if value is not None else None
        except json.JSONDecodeError:
            exported[key] = value
    return exported

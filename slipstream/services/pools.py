"""Pools: Airflow's create-or-update, get, list and delete, with its messages and stricter input checks."""

from __future__ import annotations

import math
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipstream.errors import BadRequest, NotFound
from slipstream.models import POOL_NAME_LENGTH, Pool
from slipstream.prepared import Prepared

DEFAULT_POOL = "default_pool"
MAX_SLOTS = 2**31 - 1
_INTEGER_STRING = re.compile(r"^\s*[+-]?\d+\s*$")
UNSET: Any = object()


def pool_to_json(pool: Pool) -> dict[str, Any]:
    return {
        "description": pool.description,
        "id": pool.id,
        "include_deferred": bool(pool.include_deferred),
        "pool": pool.pool,
        "slots": pool.slots,
    }


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("Pool name shouldn't be empty")
    # Control characters corrupt terminals and logs, and PostgreSQL refuses NUL in text (a 500 otherwise).
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        raise BadRequest("Pool name can't contain control characters")
    return name


def parse_slots(value: Any) -> int:
    """An integer (or a string or integral number holding one) from -1 (unlimited) to 2^31-1."""
    bad = BadRequest(f"Bad value for `slots`: {value}")
    if isinstance(value, bool):
        raise bad
    if isinstance(value, int):
        slots = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise bad
        slots = int(value)
    elif isinstance(value, str) and len(value) <= 20 and _INTEGER_STRING.match(value):
        slots = int(value)
    else:
        raise bad
    if not -1 <= slots <= MAX_SLOTS:
        raise bad
    return slots


def get_pool(session: Session, name: str) -> Pool:
    _check_name(name)
    pool = session.scalar(select(Pool).where(Pool.pool == name))
    if pool is None:
        raise NotFound(f"Pool '{name}' doesn't exist")
    return pool


def pool_exists(session: Session, name: Any) -> bool:
    """Whether a pool of that name exists; False for a name no pool can have (never a query with it)."""
    try:
        _check_name(name)
    except BadRequest:
        return False
    return len(name) <= POOL_NAME_LENGTH and session.scalar(select(Pool.id).where(Pool.pool == name)) is not None


_POOLS_JSON = Prepared(
    select(Pool.description, Pool.id, Pool.include_deferred, Pool.pool, Pool.slots).order_by(Pool.id)
)


def list_pools_json(session: Session) -> list[dict[str, Any]]:
    """pool_to_json of every pool, by id, read as plain rows (the API's hot path: no ORM objects)."""
    cursor = _POOLS_JSON.execute(session, {})
    try:
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return [
        {"description": description, "id": pk, "include_deferred": bool(deferred), "pool": name, "slots": slots}
        for description, pk, deferred, name, slots in rows
    ]


def list_pools(session: Session) -> list[Pool]:
    return list(session.scalars(select(Pool).order_by(Pool.id)))


def create_or_update_pool(
    session: Session,
    *,
    name: str,
    slots: Any,
    description: Any = UNSET,
    include_deferred: bool | None = None,
) -> Pool:
    """Upsert by name, keeping the id. Checks run in Airflow's order: empty name, slots, name length.

    A description left out keeps the stored one; null clears it.
    """
    _check_name(name)
    slot_count = parse_slots(slots)
    if len(name) > POOL_NAME_LENGTH:
        raise BadRequest(f"Pool name can't be more than {POOL_NAME_LENGTH} characters")
    if isinstance(description, str) and "\x00" in description:
        raise BadRequest("Pool description can't contain NUL characters")
    for _attempt in range(2):
        pool = session.scalar(select(Pool).where(Pool.pool == name))
        if pool is not None:
            pool.slots = slot_count
            if description is not UNSET:
                pool.description = description
            if include_deferred is not None:
                pool.include_deferred = include_deferred
            session.flush()
            return pool
        try:
            with session.begin_nested():
                pool = Pool(
                    pool=name,
                    slots=slot_count,
                    description=None if description is UNSET else description,
                    include_deferred=bool(include_deferred),
                )
                session.add(pool)
            return pool
        except IntegrityError:
            # A concurrent request created it first: update that row instead.
            continue
    raise BadRequest(f"Pool '{name}' is being changed by another request, try again")


def delete_pool(session: Session, name: str) -> Pool:
    _check_name(name)
    if name == DEFAULT_POOL:
        raise BadRequest("default_pool cannot be deleted")
    pool = get_pool(session, name)
    session.delete(pool)
    session.flush()
    return pool

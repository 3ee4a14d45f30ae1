"""Pools: Airflow's create-or-update, get, list and delete, with its messages and stricter input checks."""

from __future__ import annotations

import math
import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipstream.errors import BadRequest, Conflict, NotFound
from slipstream.states import TaskInstanceState as TI
from slipstream.storage.models import POOL_NAME_LENGTH, Pool, TaskInstance
from slipstream.storage.prepared import Prepared

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


# --- the stable API (/api/v1/pools): slot usage, ordering, Airflow's create and patch rules ----------
# order_by names -> columns (the API's `name` is the `pool` column).
ORDERING = {"name": Pool.pool, "slots": Pool.slots, "id": Pool.id}
_COUNTED_STATES = (TI.RUNNING.value, TI.QUEUED.value, TI.SCHEDULED.value, TI.DEFERRED.value)
# What the API may set, by the API's names.
API_FIELDS = ("name", "slots", "description", "include_deferred")
# What the default pool lets a PATCH change.
DEFAULT_POOL_FIELDS = frozenset({"slots", "include_deferred"})


def slot_usage(session: Session, names: list[str] | None = None) -> dict[str, dict[str, int]]:
    """Slots taken per pool and state (running, queued, scheduled, deferred), by the tries' pool_slots."""
    statement = (
        select(TaskInstance.pool, TaskInstance.state, func.sum(TaskInstance.pool_slots))
        .where(TaskInstance.state.in_(_COUNTED_STATES))
        .group_by(TaskInstance.pool, TaskInstance.state)
    )
    if names is not None:
        statement = statement.where(TaskInstance.pool.in_(names))
    usage: dict[str, dict[str, int]] = {}
    for name, state, slots in session.execute(statement):
        usage.setdefault(name, {})[state] = int(slots or 0)
    return usage


def pool_to_api_json(
    name: str, slots: int, description: str | None, include_deferred: bool, usage: dict[str, int]
) -> dict[str, Any]:
    """Airflow's Pool object. Occupied: running and queued, plus deferred when the pool counts them.
    An unlimited pool (slots -1) has open_slots -1 too: Airflow's float('inf') is no JSON integer."""
    running = usage.get(TI.RUNNING.value, 0)
    queued = usage.get(TI.QUEUED.value, 0)
    deferred = usage.get(TI.DEFERRED.value, 0)
    occupied = running + queued + (deferred if include_deferred else 0)
    return {
        "deferred_slots": deferred,
        "description": description,
        "include_deferred": bool(include_deferred),
        "name": name,
        "occupied_slots": occupied,
        "open_slots": -1 if slots == -1 else slots - occupied,
        "queued_slots": queued,
        "running_slots": running,
        "scheduled_slots": usage.get(TI.SCHEDULED.value, 0),
        "slots": slots,
    }


def pool_api_json(session: Session, pool: Pool) -> dict[str, Any]:
    usage = slot_usage(session, [pool.pool]).get(pool.pool, {})
    return pool_to_api_json(pool.pool, pool.slots, pool.description, pool.include_deferred, usage)


def count_pools(session: Session) -> int:
    return session.scalar(select(func.count(Pool.id))) or 0


def list_pools_api_json(
    session: Session, *, order_by: Any, descending: bool, limit: int, offset: int
) -> list[dict[str, Any]]:
    key = order_by.desc() if descending else order_by.asc()
    tie = Pool.id.desc() if descending else Pool.id.asc()
    rows = session.execute(
        select(Pool.pool, Pool.slots, Pool.description, Pool.include_deferred)
        .order_by(key, tie)
        .offset(offset)
        .limit(limit)
    ).all()
    usage = slot_usage(session, [row[0] for row in rows]) if rows else {}
    return [
        pool_to_api_json(name, slots, description, deferred, usage.get(name, {}))
        for name, slots, description, deferred in rows
    ]


def find_pool(session: Session, name: str) -> Pool | None:
    return session.scalar(select(Pool).where(Pool.pool == name))


def _check_api_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The stored values of the API's fields, checked as the experimental API checks them."""
    values: dict[str, Any] = {}
    if "name" in fields:
        name = _check_name(fields["name"])
        if len(name) > POOL_NAME_LENGTH:
            raise BadRequest(f"Pool name can't be more than {POOL_NAME_LENGTH} characters")
        values["pool"] = name
    if "slots" in fields:
        values["slots"] = parse_slots(fields["slots"])
    if "description" in fields:
        description = fields["description"]
        if isinstance(description, str) and "\x00" in description:
            raise BadRequest("Pool description can't contain NUL characters")
        values["description"] = description
    if "include_deferred" in fields:
        values["include_deferred"] = bool(fields["include_deferred"])
    return values


def create_api_pool(session: Session, fields: dict[str, Any]) -> Pool:
    """A new pool; Conflict with Airflow's message if the name is taken (the API never upserts)."""
    values = _check_api_fields(fields)
    values.setdefault("include_deferred", False)
    if find_pool(session, values["pool"]) is not None:
        raise Conflict(f"Pool: {values['pool']} already exists")
    try:
        with session.begin_nested():
            pool = Pool(**values)
            session.add(pool)
    except IntegrityError:
        raise Conflict(f"Pool: {values['pool']} already exists") from None
    return pool


def patch_api_pool(session: Session, pool: Pool, fields: dict[str, Any]) -> Pool:
    """Set the given API fields of `pool`; a rename onto another pool's name is a Conflict."""
    values = _check_api_fields(fields)
    new_name = values.get("pool")
    if new_name is not None and new_name != pool.pool and find_pool(session, new_name) is not None:
        raise Conflict(f"Pool: {new_name} already exists")
    try:
        with session.begin_nested():
            for attribute, value in values.items():
                setattr(pool, attribute, value)
            session.flush()
    except IntegrityError:
        raise Conflict(f"Pool: {new_name} already exists") from None
    return pool

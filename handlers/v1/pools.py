"""/pools: the experimental API's pools, with Airflow's slot counts, create, patch and delete rules."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from handlers._dispatch import database_read
from handlers._responses import json_response
from handlers._unit_of_work import group_committed, reading
from handlers.v1._action_logging import action_logging
from handlers.v1._bodies import page_offset, refuse_nul, refuse_read_only, schema_errors, update_mask_fields
from handlers.v1._pagination import ordering, page_limit
from slipstream.api.v1_problems import already_exists, bad_request, not_found
from slipstream.errors import Conflict, NotFound
from slipstream.services import pools

_REQUIRED = ("name", "slots")
_READ_ONLY = refuse_read_only(
    ("occupied_slots", "running_slots", "queued_slots", "scheduled_slots", "open_slots", "deferred_slots")
)


def _not_found(name: str):
    return not_found(detail=f"Pool with name:'{name}' not found")


def _missing(body: dict) -> None:
    missing = sorted(set(_REQUIRED) - set(body))
    if missing:
        raise bad_request(f"Missing required property(ies): {missing}")


def _unknown(body: dict) -> None:
    problem = schema_errors(body, fields=pools.API_FIELDS)
    if problem:
        raise bad_request(problem)


def _conflict(exc: Conflict):
    return already_exists(exc.message, title="Conflict")


@database_read
def get_pools(limit: int | None = None, offset: int = 0, order_by: str = "id"):
    column, descending = ordering(order_by, pools.ORDERING, "id")
    with reading() as session:
        listed = pools.list_pools_api_json(
            session, order_by=column, descending=descending, limit=page_limit(limit), offset=page_offset(offset)
        )
        total = pools.count_pools(session)
    return json_response({"pools": listed, "total_entries": total})


@refuse_nul
@database_read
def get_pool(pool_name: str):
    with reading() as session:
        pool = pools.find_pool(session, pool_name)
        if pool is None:
            raise _not_found(pool_name)
        return json_response(pools.pool_api_json(session, pool))


@action_logging("post_pool", contract_check=_READ_ONLY)
async def post_pool(body: dict):
    _missing(body)
    _unknown(body)

    def create(session):
        return pools.pool_api_json(session, pools.create_api_pool(session, body))

    try:
        return json_response(await group_committed(create))
    except Conflict as exc:
        raise _conflict(exc) from None


@refuse_nul
@action_logging("patch_pool", contract_check=_READ_ONLY)
async def patch_pool(pool_name: str, body: dict, update_mask: list[str] | None = None):
    mask = update_mask_fields(update_mask)
    # Only slots and include_deferred of the default pool may change, and never its name.
    if pool_name == pools.DEFAULT_POOL and body.get("name") != pools.DEFAULT_POOL:
        if not (mask and all(name in pools.DEFAULT_POOL_FIELDS for name in mask)):
            raise bad_request("Default Pool's name can't be modified")

    def patch(session) -> dict[str, Any]:
        pool = pools.find_pool(session, pool_name)
        if pool is None:
            raise _not_found(pool_name)
        _unknown(body)
        if mask:
            for name in mask:
                if name not in pools.API_FIELDS:
                    raise bad_request(f"Invalid field: {name} in update mask")
            absent = [name for name in mask if name not in body]
            if absent:
                raise bad_request(f"The update mask names {absent}, which the body does not hold")
            changes = {name: body[name] for name in mask}
        else:
            _missing(body)
            changes = {name: body[name] for name in pools.API_FIELDS if name in body}
        return pools.pool_api_json(session, pools.patch_api_pool(session, pool, changes))

    try:
        return json_response(await group_committed(patch))
    except Conflict as exc:
        raise _conflict(exc) from None


@refuse_nul
@action_logging("delete_pool")
async def delete_pool(pool_name: str):
    if pool_name == pools.DEFAULT_POOL:
        raise bad_request("Default Pool can't be deleted")

    def delete(session) -> bool:
        try:
            pools.delete_pool(session, pool_name)
        except NotFound:
            return False
        return True

    if not await group_committed(delete):
        raise _not_found(pool_name)
    return Response(status_code=204, media_type="text/html; charset=utf-8")

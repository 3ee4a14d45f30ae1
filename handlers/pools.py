"""Pools: list, get, create-or-update, delete."""

from __future__ import annotations

from handlers._audit import actor
from handlers._dispatch import database_read
from handlers._responses import json_response
from handlers._unit_of_work import group_committed, reading
from slipstream.services import audit, pools


@database_read
def list_pools():
    with reading() as session:
        return json_response(pools.list_pools_json(session))


@database_read
def get_pool(name: str):
    with reading() as session:
        return json_response(pools.pool_to_json(pools.get_pool(session, name)))


async def create_pool(body: dict):
    who = actor()

    def create_or_update(session):
        existed = pools.pool_exists(session, body["name"])
        pool = pools.create_or_update_pool(
            session,
            name=body["name"],
            slots=body["slots"],
            description=body.get("description", pools.UNSET),
            include_deferred=body.get("include_deferred"),
        )
        audit.record(
            session,
            audit.POOL_UPDATE if existed else audit.POOL_CREATE,
            target=pool.pool,
            extra={"slots": pool.slots},
            **who,
        )
        return pools.pool_to_json(pool)

    return json_response(await group_committed(create_or_update))


async def delete_pool(name: str):
    who = actor()

    def delete(session):
        pool = pools.delete_pool(session, name)
        audit.record(session, audit.POOL_DELETE, target=name, extra={"slots": pool.slots}, **who)
        return pools.pool_to_json(pool)

    return json_response(await group_committed(delete))

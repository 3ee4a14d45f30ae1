"""Pools: list, get, create-or-update, delete."""

from __future__ import annotations

from handlers._responses import json_response
from handlers._unit_of_work import reading, writing
from slipstream.services import pools


def list_pools():
    with reading() as session:
        return json_response([pools.pool_to_json(p) for p in pools.list_pools(session)])


def get_pool(name: str):
    with reading() as session:
        return json_response(pools.pool_to_json(pools.get_pool(session, name)))


def create_pool(body: dict):
    with writing() as session:
        pool = pools.create_or_update_pool(
            session,
            name=body["name"],
            slots=body["slots"],
            description=body.get("description", pools.UNSET),
            include_deferred=body.get("include_deferred"),
        )
        return json_response(pools.pool_to_json(pool))


def delete_pool(name: str):
    with writing() as session:
        return json_response(pools.pool_to_json(pools.delete_pool(session, name)))

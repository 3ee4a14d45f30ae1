"""`slipstream pools`: list, set and delete pools, through the same service the API uses."""

from __future__ import annotations

import typer

from slipstream.cli.common import fail, load_settings, print_json, print_table
from slipstream.errors import SlipstreamError
from slipstream.services import audit, pools
from slipstream.storage.db import session_scope

app = typer.Typer(no_args_is_help=True, help="Manage pools.")


def _show(rows: list[dict], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    print_table(
        "Pools",
        ["id", "pool", "slots", "description", "include_deferred"],
        [
            [r["id"], r["pool"], r["slots"] if r["slots"] != -1 else "∞", r["description"], r["include_deferred"]]
            for r in rows
        ],
    )


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """List every pool."""
    with session_scope(load_settings().database_url, write=False) as session:
        rows = [pools.pool_to_json(p) for p in pools.list_pools(session)]
    _show(rows, as_json)


@app.command("set")
def set_command(
    name: str,
    slots: str = typer.Argument(..., help="Slots; -1 means unlimited"),
    description: str = typer.Argument(None),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Create a pool or update its slots and description."""
    try:
        with session_scope(load_settings().database_url) as session:
            kwargs = {} if description is None else {"description": description}
            existed = pools.pool_exists(session, name)
            pool = pools.create_or_update_pool(session, name=name, slots=slots, **kwargs)
            event = audit.POOL_UPDATE if existed else audit.POOL_CREATE
            audit.record(session, event, target=name, extra={"slots": pool.slots}, **audit.cli_actor())
            row = pools.pool_to_json(pool)
    except SlipstreamError as exc:
        fail(exc.message)
    _show([row], as_json)


@app.command("delete")
def delete_command(name: str, as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """Delete a pool (not default_pool)."""
    try:
        with session_scope(load_settings().database_url) as session:
            pool = pools.delete_pool(session, name)
            audit.record(session, audit.POOL_DELETE, target=name, extra={"slots": pool.slots}, **audit.cli_actor())
            row = pools.pool_to_json(pool)
    except SlipstreamError as exc:
        fail(exc.message)
    _show([row], as_json)

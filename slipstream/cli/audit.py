"""`slipstream audit`: who changed what, when and from where."""

from __future__ import annotations

import orjson
import typer
from sqlalchemy.exc import OperationalError

from slipstream.cli.common import fail, load_settings, print_json, print_table
from slipstream.services import audit
from slipstream.storage.db import session_scope

app = typer.Typer(no_args_is_help=True, help="Read the audit log of state-changing calls.")


@app.command("list")
def list_command(
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="How many entries, newest first"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """The newest audit entries: time, event, user, address, DAG, target, details."""
    try:
        with session_scope(load_settings().database_url, write=False) as session:
            rows = [audit.entry_to_json(e) for e in audit.list_entries(session, limit)]
    except OperationalError as exc:
        fail(f"Could not read the metadata database ({exc.orig}). Did you run `slipstream db upgrade`?")
    if as_json:
        print_json(rows)
        return
    print_table(
        "Audit log",
        ["id", "when", "event", "user", "from", "dag_id", "target", "extra"],
        [
            [
                r["id"],
                r["dttm"][:19].replace("T", " ") if r["dttm"] else None,
                r["event"],
                r["username"] or "-",
                r["remote_addr"],
                r["dag_id"],
                r["target"],
                orjson.dumps(r["extra"]).decode() if r["extra"] else None,
            ]
            for r in rows
        ],
    )

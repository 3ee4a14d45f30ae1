"""`slipstream db`: create or upgrade the metadata database, or clean old rows out of it."""

from __future__ import annotations

import typer

from slipstream.cli.common import console, fail, load_settings, print_table
from slipstream.cli.secret_store import prepare_fernet_key
from slipstream.dates import parse_execution_date
from slipstream.errors import BadRequest
from slipstream.services import audit
from slipstream.services.db_cleanup import TABLES, plan_cleanup, resolve_tables, run_cleanup
from slipstream.storage.db import session_scope
from slipstream.storage.migrations.runner import current_revision, upgrade

app = typer.Typer(no_args_is_help=True, help="Manage the metadata database.")


@app.command("upgrade")
def upgrade_command() -> None:
    """Apply every migration; safe to run on every start and from several processes at once."""
    settings = load_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url, default_pool_slots=settings.default_pool_slots)
    prepare_fernet_key(settings)  # the key for variables and connections, made on first start
    console.print(f"Database at revision {current_revision(settings.database_url)}")


@app.command("revision")
def revision_command() -> None:
    """Print the database's current migration revision."""
    console.print(current_revision(load_settings().database_url) or "none")


@app.command("clean")
def clean_command(
    clean_before_timestamp: str = typer.Option(
        ...,
        "--clean-before-timestamp",
        help="Remove what is older than this (2026-01-01T00:00:00+00:00; naive = UTC)",
    ),
    tables: list[str] = typer.Option(
        None, "--tables", help=f"Tables to clean, comma-separated or repeated (default all: {', '.join(TABLES)})"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be removed"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation"),
) -> None:
    """Remove old runs (with their task instances, XComs and logs), audit rows and jobs, as `airflow db clean`.

    Each DAG's latest run and latest scheduled run, and unfinished runs, are always kept. Rows go in
    short batches, so the scheduler and the API keep working while it runs.
    """
    settings = load_settings()
    try:
        clean_before = parse_execution_date(clean_before_timestamp)
        chosen = resolve_tables(tables)
    except BadRequest as exc:
        fail(exc.message.replace("execution date", "timestamp"), code=2)
    plan = plan_cleanup(settings.database_url, settings.logs_folder, clean_before, chosen)
    counts = plan.counts()
    title = f"{'Would remove' if dry_run else 'To remove'} (older than {clean_before.isoformat()})"
    print_table(title, ["table", "rows"], [(name, f"{count:,}") for name, count in counts.items()])
    if dry_run:
        return
    if not any(counts.values()):
        console.print("Nothing to remove.")
        return
    if not yes and not typer.confirm("Remove these rows and files?", default=False):
        fail("Nothing removed.", code=1)
    result = run_cleanup(settings.database_url, plan, progress=console.print)
    with session_scope(settings.database_url) as session:
        audit.record(
            session,
            "db.clean",
            **audit.cli_actor(),
            extra={
                "clean_before_timestamp": clean_before.isoformat(),
                "tables": list(chosen),
                "removed": result.counts,
            },
        )
    console.print(
        f"Removed in {result.seconds:.1f} s, {result.batches} batches; the longest held the database "
        f"{result.longest_batch_seconds * 1000:.0f} ms."
    )

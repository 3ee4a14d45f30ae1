"""`slipstream db`: create or upgrade the metadata database."""

from __future__ import annotations

import typer

from slipstream.cli.common import console, load_settings
from slipstream.migrations.runner import current_revision, upgrade

app = typer.Typer(no_args_is_help=True, help="Manage the metadata database.")


@app.command("upgrade")
def upgrade_command() -> None:
    """Apply every migration; safe to run on every start and from several processes at once."""
    settings = load_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url, default_pool_slots=settings.default_pool_slots)
    console.print(f"Database at revision {current_revision(settings.database_url)}")


@app.command("revision")
def revision_command() -> None:
    """Print the database's current migration revision."""
    console.print(current_revision(load_settings().database_url) or "none")

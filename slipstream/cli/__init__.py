"""The `slipstream` command. Each group lives in its own module and registers itself here."""

from __future__ import annotations

import typer

from slipstream import __version__

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Slipstream: Airflow's experimental API, for real.")


@app.command()
def version() -> None:
    """Print Slipstream's version."""
    typer.echo(__version__)


def _register() -> None:
    # Imported here so each module can import `app` helpers from slipstream.cli.common without cycles.
    from slipstream.cli import api as api_cli
    from slipstream.cli import db as db_cli
    from slipstream.cli import pools as pools_cli

    app.add_typer(db_cli.app, name="db")
    app.add_typer(api_cli.app, name="api")
    app.add_typer(pools_cli.app, name="pools")


_register()


def main() -> None:
    app()

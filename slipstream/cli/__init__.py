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
    from slipstream.cli import audit as audit_cli
    from slipstream.cli import dag_processor as dag_processor_cli
    from slipstream.cli import dags as dags_cli
    from slipstream.cli import db as db_cli
    from slipstream.cli import pools as pools_cli
    from slipstream.cli import scheduler as scheduler_cli
    from slipstream.cli import standalone as standalone_cli
    from slipstream.cli import tasks as tasks_cli
    from slipstream.cli import users as users_cli
    from slipstream.cli import worker as worker_cli

    app.add_typer(db_cli.app, name="db")
    app.add_typer(dags_cli.app, name="dags")
    app.command("dag-processor")(dag_processor_cli.dag_processor_command)
    app.add_typer(api_cli.app, name="api")
    app.add_typer(pools_cli.app, name="pools")
    app.add_typer(users_cli.app, name="users")
    app.add_typer(audit_cli.app, name="audit")
    app.command("scheduler")(scheduler_cli.scheduler_command)
    app.command("standalone")(standalone_cli.standalone_command)
    app.add_typer(tasks_cli.app, name="tasks")
    app.command("worker")(worker_cli.worker_command)


_register()


def main() -> None:
    app()

"""The `slipstream` command. Each group lives in its own module and registers itself here."""

from __future__ import annotations

import typer

from slipstream import __version__

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Slipstream: Airflow's experimental API, for real.")


@app.command()
def version() -> None:
    """Print Slipstream's version, and which `airflow` package DAG files import."""
    from slipstream.airflow_namespace import describe

    typer.echo(__version__)
    typer.echo(describe())


def _register() -> None:
    # Imported here so each module can import `app` helpers from slipstream.cli.common without cycles.
    from slipstream.cli import api as api_cli
    from slipstream.cli import audit as audit_cli
    from slipstream.cli import connections as connections_cli
    from slipstream.cli import dag_processor as dag_processor_cli
    from slipstream.cli import dags as dags_cli
    from slipstream.cli import db as db_cli
    from slipstream.cli import pools as pools_cli
    from slipstream.cli import scheduler as scheduler_cli
    from slipstream.cli import standalone as standalone_cli
    from slipstream.cli import tasks as tasks_cli
    from slipstream.cli import triggerer as triggerer_cli
    from slipstream.cli import users as users_cli
    from slipstream.cli import variables as variables_cli
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
    app.command("triggerer")(triggerer_cli.triggerer_command)
    app.add_typer(tasks_cli.app, name="tasks")
    app.command("worker")(worker_cli.worker_command)
    app.add_typer(variables_cli.app, name="variables")
    app.add_typer(connections_cli.app, name="connections")


_register()


def main() -> None:
    from sqlalchemy.exc import OperationalError, ProgrammingError

    try:
        app()
    except (OperationalError, ProgrammingError) as exc:
        # A database that is not there, not migrated or not reachable is the user's to fix, not a bug:
        # one line saying so, instead of a traceback (commands that know better say more themselves).
        from slipstream.cli.common import err_console

        err_console.print(
            f"[red]Error:[/red] Could not read the metadata database ({exc.orig}). "
            "Is it reachable, and did you run `slipstream db upgrade`?"
        )
        raise SystemExit(1) from None

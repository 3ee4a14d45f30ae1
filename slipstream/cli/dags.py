"""`slipstream dags`: the DAGs the dag processor found, and parsing them on demand."""

from __future__ import annotations

import typer
from sqlalchemy.exc import OperationalError

from slipstream.cli.common import console, fail, load_settings, print_json, print_table
from slipstream.services.dags import list_dags, list_import_errors
from slipstream.storage.db import session_scope

app = typer.Typer(no_args_is_help=True, help="List DAGs and import errors; parse DAG files.")

_NOT_MIGRATED = "Could not read the metadata database ({error}). Did you run `slipstream db upgrade`?"


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """List DAGs, then the files that failed to import."""
    settings = load_settings()
    try:
        with session_scope(settings.database_url, write=False) as session:
            dags = list_dags(session)
            errors = list_import_errors(session)
    except OperationalError as exc:
        fail(_NOT_MIGRATED.format(error=exc.orig))
    if as_json:
        print_json({"dags": [d.to_json() for d in dags], "import_errors": [e.to_json() for e in errors]})
        return
    print_table(
        "DAGs",
        ["dag_id", "paused", "active", "schedule", "tags", "fileloc", "last parsed"],
        [
            [
                d.dag_id,
                d.is_paused,
                d.is_active,
                d.schedule,
                ", ".join(d.tags),
                d.fileloc,
                d.last_parsed_time.isoformat(timespec="seconds") if d.last_parsed_time else None,
            ]
            for d in dags
        ],
    )
    if errors:
        print_table("Import errors", ["filename", "error"], [[e.filename, e.last_line] for e in errors])


@app.command("reserialize")
def reserialize_command() -> None:
    """Parse every DAG file now and write the DAGs to the database."""
    from slipstream.dag_processing import process_all

    settings = load_settings()
    try:
        report = process_all(settings)
    except OperationalError as exc:
        fail(_NOT_MIGRATED.format(error=exc.orig))
    console.print(f"Parsed {report.summary()}")
    for filename, error in sorted(report.import_errors.items()):
        last_line = error.strip().splitlines()[-1] if error.strip() else ""
        console.print(f"[red]Import error[/red] in {filename}: {last_line}")


@app.command("trigger")
def trigger_command(
    dag_id: str,
    run_id: str = typer.Option(None, "--run-id", "-r", help="Run id (default manual__<execution date>)"),
    conf: str = typer.Option(None, "--conf", "-c", help="JSON object passed to the run as dag_run.conf"),
    execution_date: str = typer.Option(None, "--exec-date", "-e", help="Execution date (default now)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Trigger a DAG run, exactly as POST /dags/{dag_id}/dag_runs does."""
    from slipstream.errors import SlipstreamError
    from slipstream.services import audit, dag_runs

    body = {"run_id": run_id, "conf": conf, "execution_date": execution_date}
    try:
        request = dag_runs.parse_trigger_body(body)
        with session_scope(load_settings().database_url) as session:
            run, when = dag_runs.trigger_dag_run(session, dag_id, request)
            audit.record(session, audit.DAG_RUN_TRIGGER, dag_id=dag_id, target=run.run_id, **audit.cli_actor())
            result = {"execution_date": when.isoformat(), "run_id": run.run_id, "state": run.state}
    except SlipstreamError as exc:
        fail(exc.message)
    if as_json:
        print_json(result)
    else:
        console.print(f"Created run [bold]{result['run_id']}[/bold] of {dag_id} at {result['execution_date']} (queued)")


def _set_paused(dag_id: str, paused: bool) -> None:
    from slipstream.errors import SlipstreamError
    from slipstream.services import audit, pausing

    try:
        with session_scope(load_settings().database_url) as session:
            pausing.set_paused(session, dag_id, paused)
            event = audit.DAG_PAUSE if paused else audit.DAG_UNPAUSE
            audit.record(session, event, dag_id=dag_id, **audit.cli_actor())
    except SlipstreamError as exc:
        fail(exc.message)
    console.print(f"{dag_id} is {'paused' if paused else 'unpaused'}")


@app.command("pause")
def pause_command(dag_id: str) -> None:
    """Pause a DAG: no new runs start; running tasks finish."""
    _set_paused(dag_id, True)


@app.command("unpause")
def unpause_command(dag_id: str) -> None:
    """Unpause a DAG: its queued runs start."""
    _set_paused(dag_id, False)

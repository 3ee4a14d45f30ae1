"""`slipstream dags`: the DAGs the dag processor found, and parsing them on demand."""

from __future__ import annotations

import typer
from sqlalchemy.exc import OperationalError

from slipstream.cli.common import console, fail, load_settings, print_json, print_table
from slipstream.db import session_scope
from slipstream.services.dags import list_dags, list_import_errors

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

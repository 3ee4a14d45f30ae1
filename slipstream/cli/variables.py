"""`slipstream variables`: Airflow's `variables` commands over the metadata database (values encrypted)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from slipstream.cli.common import fail, print_json, print_table
from slipstream.cli.secret_store import read_json_file, report_import, unit_of_work, write_private_file
from slipstream.services import audit
from slipstream.services import variables as service

app = typer.Typer(no_args_is_help=True, help="Manage variables (values are stored encrypted).")


@app.command("get")
def get_command(
    key: str,
    default: str = typer.Option(None, "--default", "-d", help="Printed when the variable does not exist"),
    as_json: bool = typer.Option(False, "--json", "-j", help="Decode the value as JSON and print it as JSON"),
) -> None:
    """Print a variable's value (AIRFLOW_VAR_<KEY> in the environment first, as tasks read it)."""
    value = os.environ.get(f"AIRFLOW_VAR_{key.upper()}")
    if value is None:
        with unit_of_work(write=False) as (session, cipher):
            stored = service.get_variable(session, key, cipher)
        value = None if stored is None else stored.value
    if value is None:
        if default is None:
            fail(f"Variable {key} does not exist")
        value = default
    if as_json:
        try:
            print_json(json.loads(value))
        except json.JSONDecodeError as exc:
            fail(f"Variable {key} is not JSON: {exc}")
        return
    typer.echo(value)


@app.command("set")
def set_command(
    key: str,
    value: str,
    description: str = typer.Option(None, "--description", help="What the variable is for"),
    as_json: bool = typer.Option(False, "--json", "-j", help="VALUE is JSON: store it re-serialized"),
) -> None:
    """Create a variable or replace its value."""
    stored = value
    if as_json:
        try:
            stored = service.serialize_value(json.loads(value))
        except json.JSONDecodeError as exc:
            fail(f"VALUE is not JSON: {exc}")
    with unit_of_work(write=True) as (session, cipher):
        existed = service.set_variable(session, key, stored, cipher, description=description)
        audit.record(session, audit.VARIABLE_SET, target=key, extra={"created": not existed}, **audit.cli_actor())
    typer.echo(f"Variable {key} {'updated' if existed else 'created'}")


@app.command("delete")
def delete_command(key: str) -> None:
    """Delete a variable."""
    with unit_of_work(write=True) as (session, _cipher):
        deleted = service.delete_variable(session, key)
        if deleted:
            audit.record(session, audit.VARIABLE_DELETE, target=key, **audit.cli_actor())
    if not deleted:
        fail(f"Variable {key} does not exist")
    typer.echo(f"Variable {key} deleted")


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """List variables by key and description (values are not shown)."""
    with unit_of_work(write=False) as (session, _cipher):
        rows = service.list_variables(session)
    if as_json:
        print_json([{"key": key, "description": description} for key, description in rows])
        return
    print_table("Variables", ["key", "description"], rows)


@app.command("import")
def import_command(
    file: Path,
    action_on_existing_key: str = typer.Option(
        "overwrite", "--action-on-existing-key", "-a", help="overwrite, fail or skip a key that exists"
    ),
) -> None:
    """Import variables from a JSON file of {key: value} ({key: {"value", "description"}} also accepted)."""
    data = read_json_file(file, "variables")
    with unit_of_work(write=True) as (session, cipher):
        result = service.import_variables(session, data, cipher, on_existing=action_on_existing_key)
        audit.record(session, audit.VARIABLE_IMPORT, target=str(file), extra=result, **audit.cli_actor())
    report_import(result, len(data), "variables")


@app.command("export")
def export_command(file: Path) -> None:
    """Export every variable, in clear, to a JSON file created with mode 0600."""
    with unit_of_work(write=False) as (session, cipher):
        data = service.export_variables(session, cipher)
    write_private_file(file, data)
    typer.echo(f"{len(data)} variables successfully exported to {file}")

"""`slipstream connections`: Airflow's `connections` commands over the metadata database.

Passwords and extras are stored encrypted; `list` and the messages show passwords as ***, `get`
shows the whole connection (as Airflow's does), and the audit log records field names only.
"""

from __future__ import annotations

from pathlib import Path

import typer

from slipstream.cli.common import fail, print_json, print_table
from slipstream.cli.secret_store import read_json_file, report_import, unit_of_work, write_private_file
from slipstream.sdk.connections import Connection, connection_from_env
from slipstream.sdk.exceptions import AirflowException
from slipstream.services import audit
from slipstream.services import connections as service

app = typer.Typer(no_args_is_help=True, help="Manage connections (passwords and extras are stored encrypted).")

_MASK = "***"


def masked_uri(connection: Connection) -> str:
    if not connection.password:
        return connection.get_uri()
    shown = Connection(
        conn_id=connection.conn_id,
        conn_type=connection.conn_type,
        host=connection.host,
        login=connection.login,
        password=_MASK,
        schema=connection.schema,
        port=connection.port,
        extra=connection.extra,
    )
    return shown.get_uri().replace("%2A%2A%2A", _MASK)


@app.command("add")
def add_command(
    conn_id: str,
    conn_uri: str = typer.Option(
        None, "--conn-uri", help="The connection as a URI: type://login:password@host:port/schema?extra"
    ),
    conn_json: str = typer.Option(None, "--conn-json", help='The connection as JSON: {"conn_type": ..., "host": ...}'),
    conn_type: str = typer.Option(None, "--conn-type", help="The connection type (required without a URI or JSON)"),
    conn_host: str = typer.Option(None, "--conn-host"),
    conn_login: str = typer.Option(None, "--conn-login"),
    conn_password: str = typer.Option(None, "--conn-password"),
    conn_schema: str = typer.Option(None, "--conn-schema"),
    conn_port: str = typer.Option(None, "--conn-port"),
    conn_extra: str = typer.Option(None, "--conn-extra", help="The extra, as a JSON object"),
    conn_description: str = typer.Option(None, "--conn-description"),
) -> None:
    """Add a connection, from a URI, JSON, or field options."""
    fields = {
        "conn_type": conn_type,
        "host": conn_host,
        "login": conn_login,
        "password": conn_password,
        "schema": conn_schema,
        "port": conn_port,
        "extra": conn_extra,
    }
    if not conn_uri and not conn_json and not conn_type:
        fail("Must supply either conn-uri or conn-json if not supplying conn-type")
    with unit_of_work(write=True) as (session, cipher):
        connection = service.parse_connection(conn_id, uri=conn_uri, json_text=conn_json, **fields)
        if conn_description is not None:
            connection.description = conn_description
        service.add_connection(session, connection, cipher)
        summary = service.connection_summary(connection)
        audit.record(session, audit.CONNECTION_ADD, target=conn_id, extra=summary, **audit.cli_actor())
    typer.echo(f"Successfully added `conn_id`={conn_id} : {masked_uri(connection)}")


@app.command("get")
def get_command(
    conn_id: str,
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Show one connection, password and extra included (AIRFLOW_CONN_<ID> first, as tasks read it)."""
    try:
        connection = connection_from_env(conn_id)
    except (AirflowException, ValueError) as exc:
        fail(f"AIRFLOW_CONN_{conn_id.upper()} is not a valid connection: {exc}")
    if connection is None:
        with unit_of_work(write=False) as (session, cipher):
            connection = service.get_connection(session, conn_id, cipher)
    if connection is None:
        fail(f"Connection not found: `conn_id`={conn_id}")
    fields = {"conn_id": conn_id, **service.connection_fields(connection), "get_uri": connection.get_uri()}
    if as_json:
        print_json(fields)
        return
    print_table(None, ["field", "value"], [[k, v] for k, v in fields.items()])


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """List connections; passwords are shown as ***."""
    with unit_of_work(write=False) as (session, cipher):
        found = service.list_connections(session, cipher)
    rows = [{**service.connection_summary(c), "uri": masked_uri(c)} for c in found]
    if as_json:
        print_json(rows)
        return
    columns = ["conn_id", "conn_type", "description", "host", "port", "schema", "login", "uri"]
    print_table("Connections", columns, [[row[c] for c in columns] for row in rows])


@app.command("delete")
def delete_command(conn_id: str) -> None:
    """Delete a connection."""
    with unit_of_work(write=True) as (session, _cipher):
        deleted = service.delete_connection(session, conn_id)
        if deleted:
            audit.record(session, audit.CONNECTION_DELETE, target=conn_id, **audit.cli_actor())
    if not deleted:
        fail(f"Did not find a connection with `conn_id`={conn_id}")
    typer.echo(f"Successfully deleted connection with `conn_id`={conn_id}")


@app.command("import")
def import_command(
    file: Path,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace connections that exist (else they are skipped)"),
) -> None:
    """Import connections from a JSON file of {conn_id: {fields}} or {conn_id: "uri"}."""
    data = read_json_file(file, "connections")
    with unit_of_work(write=True) as (session, cipher):
        result = service.import_connections(session, data, cipher, on_existing="overwrite" if overwrite else "skip")
        audit.record(session, audit.CONNECTION_IMPORT, target=str(file), extra=result, **audit.cli_actor())
    report_import(result, len(data), "connections")


@app.command("export")
def export_command(
    file: Path,
    serialization_format: str = typer.Option(
        "json", "--serialization-format", help="json (fields) or uri (one URI per connection)"
    ),
) -> None:
    """Export every connection, secrets in clear, to a JSON file created with mode 0600."""
    if serialization_format not in ("json", "uri"):
        fail(f"--serialization-format must be json or uri, got {serialization_format!r}", code=2)
    with unit_of_work(write=False) as (session, cipher):
        found = service.list_connections(session, cipher)
    if serialization_format == "uri":
        data = {c.conn_id: c.get_uri() for c in found}
    else:
        data = {c.conn_id: service.connection_fields(c) for c in found}
    write_private_file(file, data)
    typer.echo(f"Connections successfully exported to {file}.")

"""`slipstream users`: the accounts the basic_auth backend checks. Passwords are stored as argon2 hashes only."""

from __future__ import annotations

import typer
from sqlalchemy.exc import OperationalError

from slipstream.cli.common import console, fail, load_settings, print_json, print_table
from slipstream.errors import SlipstreamError
from slipstream.services import audit, users
from slipstream.storage.db import session_scope

app = typer.Typer(no_args_is_help=True, help="Manage the API's users (SLIPSTREAM_AUTH_BACKEND=basic_auth).")

_NOT_MIGRATED = "Could not read the metadata database ({error}). Did you run `slipstream db upgrade`?"
_PASSWORD_HELP = "The password (visible to other local users in the process list; prefer the prompt)"


def _choose_password(password: str | None, random: bool) -> tuple[str, bool]:
    """(password, generated): from --password, --random, or a hidden prompt asked twice."""
    if password is not None and random:
        fail("Give either --password or --random, not both", code=2)
    if random:
        return users.generate_password(), True
    if password is not None:
        return password, False
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True), False


def _run(action, *args) -> object:
    try:
        with session_scope(load_settings().database_url) as session:
            return users.user_to_json(action(session, *args, actor=audit.cli_actor()))
    except SlipstreamError as exc:
        fail(exc.message)
    except OperationalError as exc:
        fail(_NOT_MIGRATED.format(error=exc.orig))


def _show_password(username: str, password: str) -> None:
    # The one time a generated password is shown; it is stored only as a hash.
    console.print(f"Password for [bold]{username}[/bold] (shown once, keep it safe):")
    typer.echo(password)


@app.command("create")
def create_command(
    username: str,
    password: str = typer.Option(None, "--password", "-p", help=_PASSWORD_HELP),
    random: bool = typer.Option(False, "--random", help="Generate a strong password and print it once"),
) -> None:
    """Create a user; without --password or --random, ask for the password."""
    try:
        users.check_username(username)
    except SlipstreamError as exc:
        fail(exc.message)
    secret, generated = _choose_password(password, random)
    _run(users.create_user, username, secret)
    console.print(f"Created user [bold]{username}[/bold]")
    if generated:
        _show_password(username, secret)


@app.command("reset-password")
def reset_password_command(
    username: str,
    password: str = typer.Option(None, "--password", "-p", help=_PASSWORD_HELP),
    random: bool = typer.Option(False, "--random", help="Generate a strong password and print it once"),
) -> None:
    """Give a user a new password; without --password or --random, ask for it."""
    secret, generated = _choose_password(password, random)
    _run(users.reset_password, username, secret)
    console.print(f"Changed the password of [bold]{username}[/bold]")
    if generated:
        _show_password(username, secret)


@app.command("delete")
def delete_command(username: str) -> None:
    """Delete a user; requests with their credentials are refused from now on."""
    _run(users.delete_user, username)
    console.print(f"Deleted user [bold]{username}[/bold]")


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """List users (never their passwords or hashes)."""
    try:
        with session_scope(load_settings().database_url, write=False) as session:
            rows = [users.user_to_json(u) for u in users.list_users(session)]
    except OperationalError as exc:
        fail(_NOT_MIGRATED.format(error=exc.orig))
    if as_json:
        print_json(rows)
        return
    print_table("Users", ["id", "username", "created", "password changed"], [list(r.values()) for r in rows])

"""`slipstream api`: serve the experimental API with uvicorn, one or several worker processes."""

from __future__ import annotations

import ipaddress
import os

import typer
import uvicorn

from slipstream.cli.common import fail, load_settings
from slipstream.config import Settings

app = typer.Typer(help="Serve the API.")


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_open_access(settings: Settings) -> None:
    """Open access is for a developer's loopback only, unless someone says otherwise in so many words."""
    if settings.auth_backend == "default" and not is_loopback(settings.host) and not settings.allow_open_access:
        raise PermissionError(
            f"Refusing to serve without authentication on {settings.host}: SLIPSTREAM_AUTH_BACKEND=default is "
            "open to anyone who can reach the address. Use basic_auth, bind to 127.0.0.1, or set "
            "SLIPSTREAM_ALLOW_OPEN_ACCESS=true if that is really what you want."
        )


def serve(settings: Settings, workers: int | None = None) -> None:
    """Run uvicorn in the foreground until Ctrl-C / SIGTERM."""
    from slipstream.api.auth import check_backend  # a misspelt backend fails here, not in every worker

    check_backend(settings)
    check_open_access(settings)
    workers = workers or settings.workers
    # Worker processes build their own app from the environment; make it match these settings.
    os.environ.setdefault("SLIPSTREAM_HOME", str(settings.home))
    os.environ["SLIPSTREAM_DATABASE_URL"] = settings.database_url
    uvicorn.run(
        "slipstream.api.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
        # Header/body timeouts, header size and connection cap (see slipstream/api/http_server.py), and the
        # JSON error for requests that do not parse (`BREW /...`); each worker reads its settings from
        # the SLIPSTREAM_HTTP_* environment.
        http="slipstream.api.http_server:GuardedHttpToolsProtocol",
        timeout_keep_alive=settings.http_keep_alive_timeout,
    )


@app.callback(invoke_without_command=True)
def api(
    workers: int = typer.Option(None, "--workers", "-w", help="Worker processes (default SLIPSTREAM_API_WORKERS)"),
    host: str = typer.Option(None, help="Address to bind (default SLIPSTREAM_HOST)"),
    port: int = typer.Option(None, help="Port (default SLIPSTREAM_PORT)"),
) -> None:
    """Serve /api/experimental on SLIPSTREAM_HOST:SLIPSTREAM_PORT."""
    settings = load_settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = settings.with_overrides(**overrides) if overrides else settings
    if host:
        os.environ["SLIPSTREAM_HOST"] = host
    try:
        serve(settings, workers)
    except (PermissionError, ValueError) as exc:
        fail(str(exc), code=2)

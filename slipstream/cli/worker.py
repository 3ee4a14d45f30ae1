"""`slipstream worker`: a Celery worker that runs task tries sent by a scheduler with SLIPSTREAM_EXECUTOR=celery."""

from __future__ import annotations

import typer

from slipstream.cli.common import fail, load_settings

POOLS = ("prefork", "solo", "threads")


def worker_command(
    queues: str = typer.Option("default", "--queues", "-q", help="Comma-separated queues to consume."),
    concurrency: int = typer.Option(16, "--concurrency", "-c", min=1, help="Tries run at once."),
    pool: str = typer.Option("prefork", "--pool", "-P", help="Celery pool: prefork, solo or threads."),
    hostname: str | None = typer.Option(
        None, "--hostname", "-n", help="Celery node name (default slipstream-<pid>@<host>)."
    ),
    loglevel: str = typer.Option("INFO", "--loglevel", "-l"),
) -> None:
    """Run a Celery worker until SIGTERM (warm: running tries finish first) or a second Ctrl-C.

    Each worker process keeps one warm fork server, started on its first try and reused for the
    next ones (replaced if it dies), so a try starts in milliseconds, not a cold interpreter's time.
    It needs the scheduler's database (SLIPSTREAM_DATABASE_URL), its broker
    (SLIPSTREAM_CELERY_BROKER_URL) and the DAG files (SLIPSTREAM_DAGS_FOLDER).
    """
    from slipstream.scheduler.executors.celery_app import make_celery_app, worker_argv

    settings = load_settings()
    names = [name.strip() for name in queues.split(",") if name.strip()]
    if not names:
        fail("--queues needs at least one queue name", code=2)
    if pool not in POOLS:
        fail(f"--pool must be one of {', '.join(POOLS)}", code=2)
    app = make_celery_app(settings)
    app.worker_main(
        worker_argv(queues=names, concurrency=concurrency, pool=pool, loglevel=loglevel.upper(), hostname=hostname)
    )

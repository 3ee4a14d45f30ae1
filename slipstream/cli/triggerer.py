"""`slipstream triggerer`: run the triggers of deferred tasks until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import signal

import typer

from slipstream.cli.common import load_settings


def triggerer_command(
    capacity: int = typer.Option(1000, "--capacity", help="The most triggers this triggerer runs at once."),
) -> None:
    """Run the triggerer: the asyncio process that fires deferred tasks' triggers. Several may run on
    PostgreSQL; the triggers of one that dies are taken over by the others."""
    from slipstream.scheduler.triggerer import TriggererJob

    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if capacity < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--capacity")
    job = TriggererJob(settings, capacity=capacity)

    def request_stop(signum, _frame) -> None:
        logging.getLogger("slipstream.triggerer").info("Got %s: stopping", signal.Signals(signum).name)
        job.request_stop()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        job.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

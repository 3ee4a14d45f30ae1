"""`slipstream dag-processor`: parse the DAG files every SLIPSTREAM_DAG_DIR_LIST_INTERVAL seconds."""

from __future__ import annotations

import logging
import signal
import threading

import typer

from slipstream.cli.common import load_settings


def dag_processor_command(
    interval: float = typer.Option(
        None, "--interval", help="Seconds between passes (default: SLIPSTREAM_DAG_DIR_LIST_INTERVAL)"
    ),
) -> None:
    """Run the dag processor until Ctrl-C or SIGTERM."""
    from slipstream.dag_processing import run_dag_processor

    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def request_stop(signum, _frame) -> None:
        logging.getLogger("slipstream.dag_processing").info("Got %s, stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        run_dag_processor(settings, stop, interval)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

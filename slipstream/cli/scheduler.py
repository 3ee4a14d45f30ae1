"""`slipstream scheduler`: run the scheduler loop and the local executor until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import signal

from slipstream.cli.common import fail, load_settings


def scheduler_command() -> None:
    """Run the scheduler and the local executor until Ctrl-C or SIGTERM.

    The first Ctrl-C / SIGTERM stops queuing and lets running tasks finish (up to
    SLIPSTREAM_SCHEDULER_SHUTDOWN_GRACE seconds); a second one terminates them at once.
    """
    from slipstream.scheduler.health import AnotherSchedulerRunning
    from slipstream.scheduler.loop import SchedulerJob

    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("slipstream.scheduler")
    try:
        job = SchedulerJob(settings)
    except ValueError as exc:
        fail(str(exc), code=2)
        return
    job.exclusive_on_sqlite = True  # one scheduler per SQLite database; several on PostgreSQL

    def request_stop(signum, _frame) -> None:
        if job.stopping:
            log.warning("Got %s again: terminating running tasks now", signal.Signals(signum).name)
            job.request_stop(immediate=True)
        else:
            log.info("Got %s: shutting down (again to terminate running tasks now)", signal.Signals(signum).name)
            job.request_stop()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        job.run()
    except AnotherSchedulerRunning as exc:
        fail(str(exc), code=1)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

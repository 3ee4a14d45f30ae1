"""When the metadata database cannot answer: which failures those are, and the 503 the API gives.

A full disk under SQLite, a PostgreSQL server stopped or restarting, a connection cut mid-request,
a write lock held past the busy timeout: none of these is the client's fault or a bug, and each
passes by itself. The API answers 503 with `Retry-After` in the one JSON error shape (never 500).
The request's transaction is rolled back whole (session_scope), so no run is ever half written; the
pool renews its connections after a disconnect, so the first request after the server is back
succeeds.
"""

from __future__ import annotations

import logging
import sqlite3
import time

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger("slipstream.api")
RETRY_AFTER_SECONDS = 5
# Log a database outage at most this often per worker; every request during it gets its 503 anyway.
LOG_EVERY_SECONDS = 10.0

_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)
_DISK_FULL = ("database or disk is full", "no space left on device", "disk full", "could not extend file")
_READ_ONLY = ("attempt to write a readonly database", "read-only file system")
_BUSY = ("database is locked", "database table is locked")
_last_logged = 0.0


def _driver_errors() -> tuple[type[BaseException], ...]:
    """The drivers' own classes, for statements run on a raw cursor (slipstream.storage.prepared)."""
    found: list[type[BaseException]] = [sqlite3.OperationalError]
    try:
        import psycopg

        found += [psycopg.OperationalError, psycopg.InterfaceError]
    except ImportError:
        pass
    return tuple(found)


_DRIVER_UNAVAILABLE = _driver_errors()


# SQLite raises OperationalError for a bad statement too; only these mean the file cannot be used.
_SQLITE_UNAVAILABLE = (*_DISK_FULL, *_READ_ONLY, *_BUSY, "disk i/o error", "unable to open database file")


def is_unavailable(exc: BaseException) -> bool:
    """A failure of the database itself (reachability, space, locks), not of the statement sent."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, _UNAVAILABLE + _DRIVER_UNAVAILABLE):
        return False
    driver_error = getattr(exc, "orig", None) or exc
    if isinstance(driver_error, sqlite3.Error):
        text = str(driver_error).lower()
        return any(marker in text for marker in _SQLITE_UNAVAILABLE)
    return True


def unavailable_message(exc: BaseException) -> str:
    reason = _reason(exc)
    return (
        f"Service Unavailable: the metadata database cannot answer ({reason}); nothing was changed. "
        f"Try again in {RETRY_AFTER_SECONDS} s"
    )


def log_outage(exc: BaseException) -> None:
    global _last_logged
    now = time.monotonic()
    if now - _last_logged >= LOG_EVERY_SECONDS:
        _last_logged = now
        log.error("The metadata database cannot answer; requests get 503 until it does: %s", exc)


class DatabaseOutage:
    """How a long-running process (scheduler, triggerer, dag processor) lives through a database it
    cannot reach: it logs when the outage starts (and a reminder now and then, never once per retry),
    waits with exponential backoff between tries, and logs when the database answers again.

        outage = DatabaseOutage("Scheduler", logger)
        ... except Exception as exc:
            if outage.is_outage(exc): stop.wait(outage.failed(exc))
        ... after a pass that reached the database: outage.succeeded()
    """

    FIRST_DELAY = 0.5
    LONGEST_DELAY = 10.0

    def __init__(self, who: str, logger: logging.Logger, *, longest_delay: float | None = None) -> None:
        self.who = who
        self.logger = logger
        self.longest_delay = self.LONGEST_DELAY if longest_delay is None else longest_delay
        self.since: float | None = None  # monotonic time of the first failure of this outage
        self.failures = 0
        self._last_logged = 0.0

    @staticmethod
    def is_outage(exc: BaseException) -> bool:
        return is_unavailable(exc)

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> float:
        """Record one failed try; returns how long to wait before the next."""
        now = time.monotonic()
        self.failures += 1
        if self.since is None:
            self.since = now
            self._last_logged = now
            self.logger.error(
                "%s: the metadata database cannot answer (%s); waiting for it, retrying with backoff: %s",
                self.who,
                _reason(exc),
                _one_line(exc),
            )
        elif now - self._last_logged >= LOG_EVERY_SECONDS * 3:
            self._last_logged = now
            self.logger.error(
                "%s: the metadata database still cannot answer after %.0f s (%d tries); still waiting: %s",
                self.who,
                now - self.since,
                self.failures,
                _one_line(exc),
            )
        return min(self.longest_delay, self.FIRST_DELAY * 2 ** min(self.failures - 1, 16))

    def succeeded(self) -> float | None:
        """Record a try that reached the database; returns the outage's length if one just ended."""
        if self.since is None:
            return None
        lasted = time.monotonic() - self.since
        self.logger.warning(
            "%s: the metadata database answers again after %.1f s (%d failed tries); carrying on",
            self.who,
            lasted,
            self.failures,
        )
        self.since, self.failures = None, 0
        return lasted


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).lower()
    if any(marker in text for marker in _DISK_FULL):
        return "its disk is full"
    if any(marker in text for marker in _READ_ONLY):
        return "it is read-only"
    if any(marker in text for marker in _BUSY):
        return "it is busy with another writer"
    return "it cannot be reached"


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(getattr(exc, 'orig', None) or exc).__name__}: {text[0] if text else ''}"

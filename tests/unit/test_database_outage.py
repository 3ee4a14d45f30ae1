"""DatabaseOutage: how the scheduler, triggerer and dag processor live through a database they cannot
reach: one log line when it starts, backoff between tries, one when it ends."""

from __future__ import annotations

import logging
import sqlite3

from sqlalchemy.exc import OperationalError

from slipstream.storage.db_errors import DatabaseOutage


def operational(message: str) -> OperationalError:
    return OperationalError("INSERT ...", {}, sqlite3.OperationalError(message))


def test_an_outage_is_logged_once_waits_longer_each_time_and_ends_with_a_line(caplog):
    caplog.set_level(logging.INFO)
    outage = DatabaseOutage("Scheduler", logging.getLogger("test.outage"))
    full = operational("database or disk is full")
    assert outage.is_outage(full)
    delays = [outage.failed(full) for _ in range(8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert outage.ongoing
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert lines[0].startswith("Scheduler: the metadata database cannot answer (its disk is full)")
    assert outage.succeeded() is not None
    assert not outage.ongoing
    assert caplog.records[-1].getMessage().startswith("Scheduler: the metadata database answers again after")
    assert "(8 failed tries)" in caplog.records[-1].getMessage()
    # The next outage starts from the shortest wait again; a pass with no outage logs nothing.
    assert outage.succeeded() is None
    assert outage.failed(full) == 0.5


def test_a_bad_statement_is_not_an_outage():
    assert not DatabaseOutage.is_outage(operational('near "SELEC": syntax error'))
    assert not DatabaseOutage.is_outage(ValueError("a bug"))
    assert DatabaseOutage.is_outage(operational("unable to open database file"))
    assert DatabaseOutage.is_outage(operational("attempt to write a readonly database"))

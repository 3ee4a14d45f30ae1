"""The run list's dates, read straight from the DBAPI, print as isoformat() of what the ORM reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from sqlalchemy import select, text

from slipstream.dates import isoformat
from slipstream.services.dag_runs import list_dag_runs_json
from slipstream.storage.models import DagModel, DagRun, SerializedDagModel

DATES = [
    datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2024, 1, 2, 3, 4, 6, 7, tzinfo=UTC),  # one microsecond digit
    datetime(2024, 1, 2, 3, 4, 7, 999999, tzinfo=UTC),
    datetime(2024, 1, 2, 5, 4, 8, 120000, tzinfo=timezone(timedelta(hours=2))),  # stored in UTC
    datetime(1, 1, 1, 0, 0, 0, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


@pytest.fixture
def runs(session):
    session.add(DagModel(dag_id="d", fileloc="/dags/d.py"))
    session.add(SerializedDagModel(dag_id="d", fileloc="/dags/d.py", data={"dag_id": "d", "tasks": {}}, dag_hash="h"))
    session.flush()
    for i, when in enumerate(DATES):
        started = None if i % 2 else when + timedelta(seconds=1, microseconds=i)
        session.add(DagRun(dag_id="d", run_id=f"r{i}", execution_date=when, start_date=started, state="running"))
    session.commit()
    return session


def _orm_view(session):
    session.expire_all()
    rows = session.scalars(select(DagRun).where(DagRun.dag_id == "d").order_by(DagRun.execution_date)).all()
    return [(r.run_id, isoformat(r.execution_date), isoformat(r.start_date)) for r in rows]


def _list_view(session):
    items = orjson.loads(list_dag_runs_json(session, "d", None))
    return [(i["run_id"], i["execution_date"], i["start_date"]) for i in items]


def test_every_date_prints_as_the_orm_reads_it(runs):
    expected = _orm_view(runs)
    assert _list_view(runs) == expected
    by_run = {run_id: (execution_date, start_date) for run_id, execution_date, start_date in expected}
    assert by_run["r3"] == ("2024-01-02T03:04:08.120000+00:00", "")
    assert by_run["r1"] == ("2024-01-02T03:04:06.000007+00:00", "")
    assert by_run["r4"] == ("0001-01-01T00:00:00+00:00", "0001-01-01T00:00:01.000004+00:00")


def test_dates_stored_in_another_text_form_take_the_general_path(runs):
    if runs.get_bind().dialect.name != "sqlite":
        pytest.skip("only SQLite stores dates as text")
    # Written by hand, without SQLAlchemy's fixed microseconds: still a valid SQLite datetime.
    runs.execute(text("UPDATE dag_run SET start_date = '2024-01-02 03:04:05' WHERE run_id = 'r0'"))
    runs.execute(text("UPDATE dag_run SET execution_date = '2023-12-31 23:00:00.5' WHERE run_id = 'r2'"))
    runs.commit()
    listed = _list_view(runs)
    assert listed == _orm_view(runs)
    assert ("r0", "2024-01-02T03:04:05+00:00", "2024-01-02T03:04:05+00:00") in listed
    assert ("r2", "2023-12-31T23:00:00.500000+00:00", "2024-01-02T03:04:09.000001+00:00") in listed

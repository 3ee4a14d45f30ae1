"""Prepared statements store exactly what SQLAlchemy's own execution stores, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, insert, select, text

from slipstream.storage.db import session_scope
from slipstream.storage.models import AuditLog, DagRun, TaskInstance
from slipstream.storage.prepared import Prepared

_RUN_VALUES = {
    "dag_id": "d",
    "state": "queued",
    "run_type": "manual",
    "external_trigger": True,
    "conf": {"nested": [1, "two", {"3": None}], "unicode": "é✓"},
    # An offset other than UTC: the column type must convert it, as SQLAlchemy's execution does.
    "execution_date": datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2))),
    "queued_at": datetime(2024, 5, 6, 5, 0, tzinfo=UTC),
}


def _row(session, model, pk):
    row = session.get(model, pk)
    return {column.key: getattr(row, column.key) for column in model.__table__.columns if column.key != "id"}


def test_an_insert_stores_what_sqlalchemy_stores(session):
    columns = [*_RUN_VALUES, "run_id"]
    statement = insert(DagRun.__table__).values({c: bindparam(c) for c in columns}).returning(DagRun.__table__.c.id)
    prepared_pk = Prepared(statement).scalar(session, {**_RUN_VALUES, "run_id": "prepared"})
    reference_values = {**_RUN_VALUES, "dag_id": "reference", "run_id": "reference"}
    reference_pk = session.execute(insert(DagRun.__table__).values(**reference_values)).inserted_primary_key[0]
    session.expire_all()
    prepared = _row(session, DagRun, prepared_pk)
    reference = _row(session, DagRun, reference_pk)
    assert (prepared.pop("dag_id"), prepared.pop("run_id")) == ("d", "prepared")
    assert (reference.pop("dag_id"), reference.pop("run_id")) == ("reference", "reference")
    # updated_at defaults to the moment of each insert: both set, a moment apart.
    assert abs(prepared.pop("updated_at") - reference.pop("updated_at")) < timedelta(seconds=5)
    assert prepared == reference
    assert prepared["execution_date"] == datetime(2024, 5, 6, 5, 8, 9, 123456, tzinfo=UTC)
    assert prepared["conf"] == _RUN_VALUES["conf"]
    # Stored alike, not only read back alike: the text SQLite compares and orders by is the same.
    stored = text(
        "SELECT CAST(execution_date AS TEXT), CAST(queued_at AS TEXT), CAST(conf AS TEXT) FROM dag_run WHERE id = :pk"
    )
    assert session.execute(stored, {"pk": prepared_pk}).one() == session.execute(stored, {"pk": reference_pk}).one()


def test_columns_left_out_take_their_defaults_scalar_and_callable(session):
    statement = insert(TaskInstance.__table__).values(
        {c: bindparam(c) for c in ("dag_id", "run_id", "task_id")}
    )  # map_index, try_number, hostname, pool, queue, executor_config, updated_at ... by default
    before = datetime.now(UTC)
    Prepared(statement).executemany(session, [{"dag_id": "d", "run_id": "r", "task_id": f"t{i}"} for i in range(3)])
    rows = session.scalars(select(TaskInstance).order_by(TaskInstance.task_id)).all()
    assert [r.task_id for r in rows] == ["t0", "t1", "t2"]
    for row in rows:
        assert (row.map_index, row.try_number, row.max_tries, row.hostname, row.unixname) == (-1, 0, 0, "", "")
        assert (row.pool, row.pool_slots, row.queue, row.priority_weight) == ("default_pool", 1, "default", 1)
        assert row.executor_config == {}
        assert before - timedelta(seconds=1) <= row.updated_at <= datetime.now(UTC) + timedelta(seconds=1)


def test_executemany_with_shared_values_stores_what_sqlalchemy_stores(session):
    columns = ("dag_id", "run_id", "task_id", "updated_at", "executor_config", "pool")
    statement = insert(TaskInstance.__table__).values({c: bindparam(c) for c in columns})
    shared = {
        "dag_id": "d",
        "updated_at": datetime(2024, 5, 6, 7, 8, 9, 5, tzinfo=timezone(timedelta(hours=-7))),
        "executor_config": {"k": ["v", 1, None]},
    }
    rows = [{"run_id": "prepared", "task_id": f"t{i}", "pool": f"p{i}"} for i in range(3)]
    Prepared(statement).executemany(session, rows, shared=shared)
    session.execute(insert(TaskInstance.__table__), [{**shared, **row, "run_id": "reference"} for row in rows])
    stored = text(
        "SELECT task_id, pool, CAST(updated_at AS TEXT), CAST(executor_config AS TEXT), hostname, map_index "
        "FROM task_instance WHERE run_id = :run_id ORDER BY task_id"
    )
    prepared = session.execute(stored, {"run_id": "prepared"}).all()
    assert prepared == session.execute(stored, {"run_id": "reference"}).all()
    assert [row[:2] for row in prepared] == [("t0", "p0"), ("t1", "p1"), ("t2", "p2")]


def test_a_select_binds_its_own_literals_and_the_callers_values(session):
    session.execute(insert(DagRun.__table__).values(**_RUN_VALUES, run_id="r1"))
    statement = (
        select(DagRun.run_id)
        .where(DagRun.dag_id == bindparam("dag_id"), DagRun.execution_date == bindparam("when"))
        .limit(1)
    )
    prepared = Prepared(statement)
    same_instant_in_utc = _RUN_VALUES["execution_date"].astimezone(UTC)
    assert prepared.scalar(session, {"dag_id": "d", "when": same_instant_in_utc}) == "r1"
    assert prepared.first(session, {"dag_id": "other", "when": same_instant_in_utc}) is None


def test_a_missing_required_value_is_named(session):
    prepared = Prepared(insert(AuditLog.__table__).values(event=bindparam("event")))
    with pytest.raises(KeyError, match="'event'"):
        prepared.execute(session, {})


def test_it_runs_inside_the_sessions_transaction(settings):
    prepared = Prepared(insert(AuditLog.__table__).values(event=bindparam("event")))
    with pytest.raises(RuntimeError):
        with session_scope(settings.database_url) as session:
            prepared.execute(session, {"event": "rolled back"}).close()
            raise RuntimeError("the unit of work fails after the insert")
    with session_scope(settings.database_url) as session:
        prepared.execute(session, {"event": "kept"}).close()
    with session_scope(settings.database_url, write=False) as session:
        assert session.scalars(select(AuditLog.event)).all() == ["kept"]

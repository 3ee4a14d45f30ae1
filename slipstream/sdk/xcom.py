"""XCom: values task instances push and pull through the metadata database (task-model-semantics §2).

`XCom` is the storage (its classmethods are what `airflow.models.XCom` offers DAG files);
`push` / `pull` are what `ti.xcom_push` / `ti.xcom_pull` call in a running task.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from slipstream.sdk import runtime, xcom_serde

XCOM_RETURN_KEY = "return_value"


class LazySelectSequence(Sequence):
    """The values of several XComs, in the order asked for; prints as Airflow's lazy sequence does."""

    def __init__(self, values: list[Any]):
        self._values = values

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, index):
        return self._values[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazySelectSequence):
            return self._values == other._values
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return list(self._values) == list(other)
        return NotImplemented

    def __str__(self) -> str:
        return f"LazySelectSequence([{len(self)} items])"

    __repr__ = __str__


def _value_text(value: Any, *, task_id: str, key: str) -> str:
    try:
        text = XCom.serialize_value(value)
    except (TypeError, AttributeError, ValueError) as exc:
        raise type(exc)(f"{exc} (XCom key {key!r} of task {task_id!r} cannot be stored)") from None
    size = len(text.encode("utf-8"))
    limit = runtime.max_xcom_bytes()
    if limit and size > limit:
        raise ValueError(
            f"XCom value of task {task_id!r} with key {key!r} is {size} bytes, over the limit of {limit} bytes "
            "(SLIPSTREAM_MAX_XCOM_BYTES)"
        )
    return text


class XCom:
    """Airflow's XCom model, as DAG files use it."""

    @staticmethod
    def serialize_value(value: Any, **_: Any) -> str:
        return xcom_serde.serialize(value)

    @staticmethod
    def deserialize_value(result: Any) -> Any:
        return xcom_serde.deserialize(getattr(result, "value", result))

    @classmethod
    def set(
        cls, key: str, value: Any, *, dag_id: str, task_id: str, run_id: str, map_index: int = -1, session=None
    ) -> None:
        if not key:
            raise ValueError(f"XCom key must be a non-empty string. Received: {key!r}")
        text = _value_text(value, task_id=task_id, key=key)
        with runtime.write_session() as db:
            _store(db, dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, key=key, text=text)

    @classmethod
    def get_one(
        cls,
        *,
        key: str | None = None,
        dag_id: str | None = None,
        task_id: str | None = None,
        run_id: str | None = None,
        map_index: int | None = None,
        include_prior_dates: bool = False,
        session=None,
        **_: Any,
    ) -> Any:
        with runtime.read_session() as db:
            rows = _select(
                db,
                dag_id=dag_id,
                run_id=run_id,
                task_ids=[task_id] if task_id else None,
                key=key,
                map_indexes=[map_index] if map_index is not None else None,
                include_prior_dates=include_prior_dates,
            )
        return cls.deserialize_value(rows[0].value) if rows else None

    @classmethod
    def clear(cls, *, dag_id: str, task_id: str, run_id: str, map_index: int | None = None, session=None) -> None:
        from sqlalchemy import delete

        from slipstream.storage.models import XCom as XComRow

        with runtime.write_session() as db:
            statement = delete(XComRow).where(
                XComRow.dag_id == dag_id, XComRow.run_id == run_id, XComRow.task_id == task_id
            )
            if map_index is not None:
                statement = statement.where(XComRow.map_index == map_index)
            db.execute(statement)


def _dag_run_id(db, dag_id: str, run_id: str) -> int:
    from sqlalchemy import select

    from slipstream.storage.models import DagRun

    found = db.scalar(select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if found is None:
        raise LookupError(f"DAG run {run_id} of DAG {dag_id} not found")
    return found


def _store(db, *, dag_id: str, run_id: str, task_id: str, map_index: int, key: str, text: str) -> None:
    """A re-push replaces the row (Airflow deletes and inserts)."""
    from sqlalchemy import delete

    from slipstream.dates import utcnow
    from slipstream.storage.models import XCom as XComRow

    run_pk = _dag_run_id(db, dag_id, run_id)
    db.execute(
        delete(XComRow).where(
            XComRow.dag_run_id == run_pk,
            XComRow.task_id == task_id,
            XComRow.map_index == map_index,
            XComRow.key == key,
        )
    )
    db.add(
        XComRow(
            dag_run_id=run_pk,
            task_id=task_id,
            map_index=map_index,
            key=key,
            dag_id=dag_id,
            run_id=run_id,
            value=text,
            timestamp=utcnow(),
        )
    )
    db.flush()


def _select(
    db,
    *,
    dag_id: str | None,
    run_id: str | None,
    task_ids: list[str] | None,
    key: str | None,
    map_indexes: list[int] | None,
    include_prior_dates: bool,
    logical_date: datetime | None = None,
):
    """Rows newest first: this run's, or with include_prior_dates every run up to this one's date."""
    from sqlalchemy import select

    from slipstream.storage.models import DagRun
    from slipstream.storage.models import XCom as XComRow

    statement = select(XComRow.task_id, XComRow.map_index, XComRow.key, XComRow.value, XComRow.run_id)
    if dag_id:
        statement = statement.where(XComRow.dag_id == dag_id)
    if task_ids:
        statement = statement.where(XComRow.task_id.in_(task_ids))
    if key:
        statement = statement.where(XComRow.key == key)
    if map_indexes is not None:
        statement = statement.where(XComRow.map_index.in_(map_indexes))
    if include_prior_dates and logical_date is not None:
        statement = (
            statement.join(DagRun, DagRun.id == XComRow.dag_run_id)
            .where(DagRun.execution_date <= logical_date)
            .order_by(DagRun.execution_date.desc(), XComRow.timestamp.desc())
        )
    else:
        if run_id:
            statement = statement.where(XComRow.run_id == run_id)
        statement = statement.order_by(XComRow.timestamp.desc())
    return list(db.execute(statement))


_ONE_SOURCE = None


def warm_pull(url: str) -> None:
    """In the fork server: compile the common pull once on the engine children inherit, so no task
    process compiles it again (a read of nothing, on the fork server's own connection)."""
    from slipstream.storage.db import get_engine

    with get_engine(url).connect() as connection:
        connection.execute(_one_source(), {"dag_id": "", "run_id": "", "task_id": "", "key": ""}).all()


def _one_source():
    global _ONE_SOURCE
    from sqlalchemy import text

    if _ONE_SOURCE is None:
        _ONE_SOURCE = text(
            "SELECT map_index, value FROM xcom WHERE dag_id = :dag_id AND run_id = :run_id "
            "AND task_id = :task_id AND key = :key ORDER BY map_index"
        )
    return _ONE_SOURCE


def _pull_one_source(dag_id: str, run_id: str, task_id: str, key: str, default: Any) -> Any:
    """The common pull (an XComArg, `xcom_pull(task_ids="t")`) as one plain statement: a task
    process runs it once or twice, so compiling an ORM query would cost more than the read."""
    from slipstream.sdk import metastore

    with metastore.read_connection() as connection:
        rows = connection.execute(
            _one_source(), {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "key": key}
        ).all()
    if not rows:
        return default
    if rows[0].map_index < 0:
        return XCom.deserialize_value(rows[0].value)
    # A mapped source: every index's value, by map index.
    return LazySelectSequence([XCom.deserialize_value(r.value) for r in rows if r.map_index >= 0])


def push(ti: Any, key: str, value: Any) -> None:
    """ti.xcom_push: stored at once, in its own transaction, as Airflow commits it."""
    XCom.set(key, value, dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=ti.map_index)


def pull(
    ti: Any,
    task_ids: str | Iterable[str] | None = None,
    dag_id: str | None = None,
    key: str | None = XCOM_RETURN_KEY,
    include_prior_dates: bool = False,
    *,
    map_indexes: int | Iterable[int] | None = None,
    default: Any = None,
    run_id: str | None = None,
) -> Any:
    """ti.xcom_pull with Airflow 2.10's rules for one source and for several."""
    dag_id = dag_id or ti.dag_id
    run_id = run_id or ti.run_id
    if isinstance(task_ids, str) and key and map_indexes is None and not include_prior_dates:
        return _pull_one_source(dag_id, run_id, task_ids, key, default)
    single_task = task_ids is None or isinstance(task_ids, str)
    single_index = map_indexes is None or isinstance(map_indexes, int)
    wanted_tasks = None if task_ids is None else ([task_ids] if isinstance(task_ids, str) else list(task_ids))
    wanted_indexes = (
        None if map_indexes is None else ([map_indexes] if isinstance(map_indexes, int) else list(map_indexes))
    )
    with runtime.read_session() as db:
        rows = _select(
            db,
            dag_id=dag_id,
            run_id=run_id,
            task_ids=wanted_tasks,
            key=key or None,
            map_indexes=wanted_indexes,
            include_prior_dates=include_prior_dates,
            logical_date=getattr(ti, "logical_date", None),
        )
    if single_task and single_index:
        if not rows:
            return default
        newest = rows[0]
        if map_indexes is not None or newest.map_index < 0:
            return XCom.deserialize_value(newest.value)
        # A mapped source: every index's value, by map index.
        same = sorted(
            (r for r in rows if r.task_id == newest.task_id and r.run_id == newest.run_id and r.map_index >= 0),
            key=lambda r: r.map_index,
        )
        return LazySelectSequence([XCom.deserialize_value(r.value) for r in same])
    # Several: in the order of task_ids, then map_indexes; missing ones are left out.
    newest_by_source: dict[tuple[str, int], Any] = {}
    for row in rows:
        newest_by_source.setdefault((row.task_id, row.map_index), row)
    task_order = wanted_tasks if wanted_tasks is not None else sorted({r.task_id for r in rows})
    values = []
    for task_id in task_order:
        indexes = (
            wanted_indexes if wanted_indexes is not None else sorted({i for (t, i) in newest_by_source if t == task_id})
        )
        for index in indexes:
            row = newest_by_source.get((task_id, index))
            if row is not None:
                values.append(XCom.deserialize_value(row.value))
    return LazySelectSequence(values)


def result_xcoms(task: Any, ti: Any, result: Any) -> list[tuple[str, str]]:
    """What `execute` returned, as (key, stored text) pairs: `return_value`, and each key for
    multiple_outputs. Serialized here, so a value that cannot be stored fails the try."""
    if result is None or not getattr(task, "do_xcom_push", True):
        return []
    items: list[tuple[str, Any]] = []
    if getattr(task, "multiple_outputs", False):
        if not isinstance(result, dict):
            raise TypeError(f"Returned output was type {type(result)} expected dictionary for multiple_outputs")
        for key in result:
            if not isinstance(key, str):
                raise TypeError(
                    "Returned dictionary keys must be strings when using multiple_outputs, "
                    f"found {key} ({type(key)}) instead"
                )
        items.extend(result.items())
    items.append((XCOM_RETURN_KEY, result))
    return [(key, _value_text(value, task_id=ti.task_id, key=key)) for key, value in items]


def store_xcoms(db, *, dag_id: str, run_id: str, task_id: str, map_index: int, items: list) -> None:
    """Write serialized XComs in the caller's transaction (the one recording the try's success)."""
    for key, text in items:
        _store(db, dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, key=key, text=text)

"""XComs as the stable API shows them: listed per task instance (or across DAGs, runs and tasks with `~`),
and one entry's value, as Airflow renders it.

Values are stored as JSON with Airflow's serde tags (slipstream.sdk.xcom_serde). Airflow's default
reading (`orm_deserialize_value`) loads the JSON and shows a tagged value (a tuple, a datetime) as a short
text instead of importing its class; `deserialize=true` rebuilds the objects. `stringify` (the default)
answers Python's `str()` of the result, e.g. "{'a': 'b'}"; otherwise the value as JSON.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from slipstream.dates import isoformat
from slipstream.sdk import xcom_serde
from slipstream.storage.models import DagRun, XCom

WILDCARD = "~"
_BUILTIN_COLLECTIONS = ("builtins.tuple", "builtins.set", "builtins.frozenset")


@dataclass(frozen=True)
class XComFilter:
    dag_id: str
    dag_run_id: str
    task_id: str
    map_index: int | None = None
    key: str | None = None

    def apply(self, statement):
        if self.dag_id != WILDCARD:
            statement = statement.where(XCom.dag_id == self.dag_id)
        if self.dag_run_id != WILDCARD:
            statement = statement.where(XCom.run_id == self.dag_run_id)
        if self.task_id != WILDCARD:
            statement = statement.where(XCom.task_id == self.task_id)
        if self.map_index is not None:
            statement = statement.where(XCom.map_index == self.map_index)
        if self.key is not None:
            statement = statement.where(XCom.key == self.key)
        return statement


_ENTRY_COLUMNS = (XCom.dag_id, DagRun.execution_date, XCom.key, XCom.map_index, XCom.task_id, XCom.timestamp)


def _entry(dag_id: str, execution_date: Any, key: str, map_index: int, task_id: str, timestamp: Any) -> dict[str, Any]:
    return {
        "dag_id": dag_id,
        "execution_date": isoformat(execution_date) or None,
        "key": key,
        "map_index": map_index,
        "task_id": task_id,
        "timestamp": isoformat(timestamp) or None,
    }


def list_entries(session: Session, filters: XComFilter, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """One page of entries (without values), in Airflow's order (dag, task, run, map index, key), and the total."""
    joined = select(*_ENTRY_COLUMNS).join(DagRun, DagRun.id == XCom.dag_run_id)
    total = session.scalar(filters.apply(select(func.count()).select_from(XCom))) or 0
    statement = filters.apply(joined).order_by(XCom.dag_id, XCom.task_id, XCom.run_id, XCom.map_index, XCom.key)
    rows = session.execute(statement.offset(offset).limit(limit)).all()
    return [_entry(*row) for row in rows], total


def get_entry(
    session: Session, *, dag_id: str, dag_run_id: str, task_id: str, key: str, map_index: int = -1
) -> tuple[dict[str, Any], str | None] | None:
    """The entry and its stored JSON text; None when there is no such XCom."""
    row = session.execute(
        select(*_ENTRY_COLUMNS, XCom.value)
        .join(DagRun, DagRun.id == XCom.dag_run_id)
        .where(
            XCom.dag_id == dag_id,
            XCom.run_id == dag_run_id,
            XCom.task_id == task_id,
            XCom.key == key,
            XCom.map_index == map_index,
        )
    ).first()
    if row is None:
        return None
    return _entry(*row[:-1]), row[-1]


def _stringify_tagged(value: dict[str, Any]) -> str:
    """Airflow's readable form of a tagged value it does not import (serde's `_stringify`)."""
    classname = value[xcom_serde.CLASSNAME]
    version = value.get(xcom_serde.VERSION, 1)
    data = value.get(xcom_serde.DATA)
    if classname in _BUILTIN_COLLECTIONS:
        return "(" + ",".join(str(item) for item in data or ()) + ")"
    text = f"{classname}@version={version}("
    if isinstance(data, dict):
        text += ",".join(f"{k}={v}" for k, v in data.items())
    elif isinstance(data, list):
        text += ",".join(str(item) for item in data)
    elif data is not None:
        text += str(data)
    return text + ")"


def _readable(value: Any) -> Any:
    """Innermost first, as a JSON object hook: tagged values become their readable text."""
    if isinstance(value, dict):
        inner = {k: _readable(v) for k, v in value.items()}
        if xcom_serde.CLASSNAME in inner and xcom_serde.VERSION in inner:
            return _stringify_tagged(inner)
        return inner
    if isinstance(value, list):
        return [_readable(v) for v in value]
    return value


def stored_value(text: str | None, *, deserialize: bool) -> Any:
    """The Python value Airflow works with: rebuilt objects with `deserialize`, else readable text for them."""
    if text is None:
        return None
    if deserialize:
        return xcom_serde.deserialize(text)
    return _readable(json.loads(text))


def to_json_ready(value: Any) -> Any:
    """A value as Airflow's JSON provider writes it (dates as ISO text, collections as arrays)."""
    if isinstance(value, dict):
        return {str(k): to_json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json_ready(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value) if value % 1 else int(value)
    if isinstance(value, dt.tzinfo):
        return str(value)
    return value


def rendered_value(text: str | None, *, deserialize: bool, stringify: bool) -> Any:
    value = stored_value(text, deserialize=deserialize)
    if stringify:
        return None if value is None else str(value)
    return to_json_ready(value)
